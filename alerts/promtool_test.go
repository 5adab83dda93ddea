package alerts

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
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

// promtool3Env names the 3.x promtool for the rule tests. Debian's promtool
// is 2.x; `make promtool3` builds a 3.x one from the module proxy and
// `make test` passes its path here.
const promtool3Env = "PROMTOOL3"

// versionRE finds the version in `promtool --version`'s first line.
var versionRE = regexp.MustCompile(`^promtool, version v?([0-9]+)\.`)

// promtoolMajor returns the major version a promtool binary reports.
func promtoolMajor(path string) (int, error) {
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w: %s", path, err, out)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("%s --version: no version in %q", path, out)
	}
	return strconv.Atoi(string(m[1]))
}

// forEachPromtool runs f as a subtest per promtool major: "v2" with the
// promtool in PATH (Debian's), "v3" with $PROMTOOL3. Rules must load and
// their unit tests pass on both, since users run both. A missing v3 skips
// that subtest, saying how to get it, except where PROMTOOL3_REQUIRED is set
// (.ci/run sets it when it has built one): there it fails.
func forEachPromtool(t *testing.T, f func(t *testing.T, promtool string)) {
	t.Run("v2", func(t *testing.T) {
		p := requirePromtool(t)
		if major, err := promtoolMajor(p); err != nil || major != 2 {
			t.Fatalf("promtool in PATH: major %d, want 2 (Debian's prometheus package): %v", major, err)
		}
		f(t, p)
	})
	t.Run("v3", func(t *testing.T) {
		p := os.Getenv(promtool3Env)
		if p == "" {
			if os.Getenv("PROMTOOL3_REQUIRED") != "" {
				t.Fatalf("%s is empty though PROMTOOL3_REQUIRED is set", promtool3Env)
			}
			t.Skipf("skipping: %s is not set (`make promtool3` builds promtool 3.x from the module proxy; `make test` then sets it)", promtool3Env)
		}
		major, err := promtoolMajor(p)
		if err != nil {
			t.Fatal(err)
		}
		if major != 3 {
			t.Fatalf("%s=%s is promtool %d.x, want 3.x", promtool3Env, p, major)
		}
		f(t, p)
	})
}

// runPromtool runs promtool with args in dir and fails the test with its
// output on a non-zero exit.
func runPromtool(t *testing.T, promtool, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	return string(out)
}
