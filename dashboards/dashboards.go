package dashboards

import "embed"

// Files holds the dashboards' JSON files by name (overview.json, ...).
//
//go:embed *.json
var Files embed.FS

// UIDs returns each dashboard file's uid. Uids are stable: links and
// bookmarks use them, so they never change once shipped.
func UIDs() map[string]string {
	return map[string]string{
		"overview.json": "netburst-overview",
		"bonds.json":    "netburst-bonds",
		"latency.json":  "netburst-latency",
		"spikes.json":   "netburst-spikes",
	}
}
