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

// domain are the packages that watch the kernel and analyse what they see.
var domain = []string{"sampler", "prober", "capture", "locate", "bond"}

// shared are the packages every domain package may import: the spike event
// and the decoded-frame leaf, with the module's internal helpers.
func shared(pkg string) bool {
	return pkg == module+"spike" || pkg == module+"packet" || strings.HasPrefix(pkg, module+"internal/")
}

// A domain package imports no sibling (directly or through another
// package) but spike and the leaf: what two of them share goes into one of
// those, and only cmd/ wires them together.
func TestDomainPackagesImportNoSibling(t *testing.T) {
	for _, pkg := range domain {
		if !exists(t, pkg) {
			continue
		}
		for _, dep := range goList(t, "{{.ImportPath}}", module+pkg, true) {
			if strings.HasPrefix(dep, module) && dep != module+pkg && !shared(dep) {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// The leaf of decoded frames and capture files is ground level: it
// imports no other netburst package, so that any package may import it.
func TestPacketIsALeaf(t *testing.T) {
	if !exists(t, "packet") {
		t.Fatal("no packet package")
	}
	for _, dep := range goList(t, "{{.ImportPath}}", module+"packet/...", true) {
		if strings.HasPrefix(dep, module) && dep != module+"packet" && !strings.HasPrefix(dep, module+"packet/") {
			t.Errorf("packet depends on %s", dep)
		}
	}
}

// Only the exporter runs the live capture (AF_PACKET sockets, rings): the
// tool and every other package read decoded frames through packet.
func TestOnlyTheExporterImportsTheLiveCapture(t *testing.T) {
	for _, line := range goList(t, `{{.ImportPath}}|{{join .Deps "|"}}`, module+"...", false) {
		pkg, deps, _ := strings.Cut(line, "|")
		if pkg == module+"cmd/netburst_exporter" || pkg == module+"capture" || strings.HasPrefix(pkg, module+"capture/") {
			continue
		}
		for _, dep := range strings.Split(deps, "|") {
			if dep == module+"capture" {
				t.Errorf("%s depends on the live capture", pkg)
			}
		}
	}
}

// The Prometheus server's module (its PromQL parser, for the tests of the
// rules and dashboards through internal/promqlnames) never enters a
// netburst binary: the commands do not depend on it, and no package but
// tests imports internal/promqlnames.
func TestBinariesHaveNoPrometheusServer(t *testing.T) {
	for _, cmd := range []string{"cmd/netburst_exporter", "cmd/netburst"} {
		for _, dep := range goList(t, "{{.ImportPath}}", module+cmd, true) {
			if strings.HasPrefix(dep, "github.com/prometheus/prometheus/") || dep == module+"internal/promqlnames" {
				t.Errorf("%s depends on %s", cmd, dep)
			}
		}
	}
	for _, line := range goList(t, `{{.ImportPath}}|{{join .Imports ","}}`, module+"...", false) {
		pkg, imps, _ := strings.Cut(line, "|")
		for _, imp := range strings.Split(imps, ",") {
			if imp == module+"internal/promqlnames" {
				t.Errorf("%s imports internal/promqlnames outside its tests", pkg)
			}
		}
	}
}

// webui renders pages from plain reports: it imports none of the packages
// that watch the kernel (the capture, the sampler, the prober).
func TestWebUIImportsNoCapture(t *testing.T) {
	for _, dep := range goList(t, "{{.ImportPath}}", module+"webui", true) {
		for _, banned := range []string{module + "capture", module + "sampler", module + "prober", "github.com/vishvananda/netlink"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("webui depends on %s", dep)
			}
		}
	}
}
