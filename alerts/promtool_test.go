package alerts

import (
	"os"
	"os/exec"
	"testing"
)

// requirePromtool returns promtool's path. It skips the test when promtool
// is missing, except under CI (CI set), which installs it: there a missing
// promtool is a failure, not a silent skip.
func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("promtool not found in PATH under CI: .ci/run must install the prometheus package")
		}
		t.Skip("skipping: promtool not found in PATH (apt-get install prometheus; .ci/run installs it)")
	}
	return p
}

// runPromtool runs promtool with args in dir and fails the test with its
// output on a non-zero exit.
func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(requirePromtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	return string(out)
}
