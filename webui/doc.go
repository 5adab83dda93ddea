// Package webui renders the exporter's own pages: the live page at / (the
// landing page's links, then each device's rates and each target's RTTs
// as they stream from /api/v1/stream, drawn by a small hand-written canvas
// script, and the spike list), the spike list at /spikes and one spike at
// /spikes/ID (its trigger, the window's throughput in 10 ms bins with the
// top ports stacked, the trigger instant marked, the tables of ports,
// hosts and conversations, and a link to its pcap; no script). Everything
// is in the binary: html/template pages with inline style and the SVG of
// package plot, no library, no CDN; readable in the reader's light or dark
// scheme and at phone width. It imports none of the packages that watch
// the kernel: the exporter hands it plain reports.
package webui
