// Package plot draws a packet.Timeline as SVG: throughput over time, the
// top ports stacked, the trigger instant and a threshold marked. The
// exporter's spike pages and `netburst top --svg` draw the same picture
// with it. The SVG is self-contained (no script, no external font or
// style) and follows the reader's light or dark theme.
package plot
