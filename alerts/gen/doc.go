// Command gen renders alerts/netburst-rules.yml from alerts/config.yml and
// the template. Run it with `go generate ./alerts` (it works in the alerts
// directory).
package main
