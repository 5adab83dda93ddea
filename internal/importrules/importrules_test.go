package importrules

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/netburst/netburst/"

func goList(t *testing.T, format, pkg string, deps bool) []string {
	t.Helper()
	args := []string{"list", "-f", format}
	if deps {
		args = append(args, "-deps")
	}
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

func exists(t *testing.T, pkg string) bool {
	out, err := exec.Command("go", "list", "-e", "-f", "{{.Error}}", module+pkg).CombinedOutput()
	return err == nil && !strings.Contains(string(out), "no Go files") && !strings.Contains(string(out), "cannot find")
}

// Domain packages (and everything they import) stay free of client_golang
// and of collector/: they hand observations to small interfaces instead.
func TestDomainPackagesKnowNoPrometheus(t *testing.T) {
	for _, pkg := range []string{"sampler", "prober", "capture", "locate", "bond", "spike"} {
		if !exists(t, pkg) {
			continue
		}
		for _, dep := range goList(t, "{{.ImportPath}}", module+pkg+"/...", true) {
			if strings.HasPrefix(dep, "github.com/prometheus/client_golang") || strings.HasPrefix(dep, module+"collector") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// collector/ reads snapshots; it opens no sockets itself.
func TestCollectorsImportNoKernelInterfaces(t *testing.T) {
	for _, imp := range goList(t, `{{join .Imports " "}}`, module+"collector", false) {
		for _, banned := range []string{"github.com/vishvananda/netlink", "golang.org/x/sys/unix", "github.com/gopacket/gopacket/afpacket", "syscall"} {
			if imp == banned || strings.HasPrefix(imp, banned+"/") {
				t.Errorf("collector imports %s", imp)
			}
		}
	}
}
