// Package promstack runs a real Prometheus and Alertmanager on loopback for
// end-to-end tests of netburst's rules: a generated config (1 s scrape and
// evaluation, native histograms enabled), the rule files under test, and an
// Alertmanager whose webhook receiver is served by the test. Everything is
// torn down by t.Cleanup.
//
// Debian's packages provide the binaries: prometheus (2.42 on Debian 12) and
// prometheus-alertmanager. Tests skip without them, except under CI (CI
// set), where .ci/run installs them and their absence is a failure.
package promstack
