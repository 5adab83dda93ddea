// Package webui renders the exporter's own pages: the spike list at
// /spikes and one spike at /spikes/ID (its trigger, the window's throughput
// in 10 ms bins with the top ports stacked, the trigger instant marked, the
// tables of ports, hosts and conversations, and a link to its pcap).
// Everything is in the binary: html/template pages with inline CSS and the
// SVG of package plot, no script, no CDN; readable in a light and a dark
// theme (prefers-color-scheme) and at phone width. It imports none of the
// packages that watch the kernel: the exporter hands it plain reports.
package webui
