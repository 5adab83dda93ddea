//go:build race

package nstest

// raceBuild: this test binary runs under the race detector, and so does
// the exporter it builds.
const raceBuild = true
