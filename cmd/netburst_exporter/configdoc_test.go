package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// helpOf runs a command and returns what it printed for --help or
// --help-long (80 columns: the output is a pipe).
func helpOf(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

// docs/configuration.md holds both commands' --help, generated here; the
// test fails when a flag changes and the doc does not.
func TestConfigurationReference(t *testing.T) {
	exporter := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	exporter.Env = append(os.Environ(), "NETBURST_HELPER_ARGS=--help", "COLUMNS=100")
	tool := filepath.Join(t.TempDir(), "netburst")
	if out, err := exec.Command("go", "build", "-o", tool, "../netburst").CombinedOutput(); err != nil {
		t.Fatalf("go build ../netburst: %v\n%s", err, out)
	}
	toolHelp := exec.Command(tool, "--help-long")
	toolHelp.Env = append(os.Environ(), "COLUMNS=100")
	got := `# Configuration reference

Generated from the commands' own ` + "`--help`" + ` by
` + "`go test ./cmd/netburst_exporter -run TestConfigurationReference -update`" + `; ` + "`make test`" + ` fails when
this file and the flags disagree. What each flag means in practice is explained in the feature
pages: [exporter and sampler](exporter.md), [prober](prober.md) (including the YAML
` + "`--config.file`" + ` and file_sd schemas), [bonds](bond.md), [spike capture](capture.md),
[locate](locate.md), [deployment](deploy.md).

## netburst_exporter

` + "```\n" + helpOf(t, exporter) + "\n```" + `

## netburst

` + "```\n" + helpOf(t, toolHelp) + "\n```\n"
	const path = "../../docs/configuration.md"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(want) != got {
		t.Errorf("docs/configuration.md is stale: go test ./cmd/netburst_exporter -run TestConfigurationReference -update")
	}
}
