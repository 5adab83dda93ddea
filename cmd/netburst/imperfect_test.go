package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// imperfectFiles writes a good capture of two seed points and the ways a
// real one goes wrong, in dir, and returns dir. Point b's file (seed point
// 3: 21 echoes, 14 UDP datagrams, 56 records) is the one spoiled.
func imperfectFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	per := seedCaptures(false)
	path := func(name string) string { return filepath.Join(dir, name) }
	writePoint(t, path("a.pcap"), frameEthernet, "pcap", per[2])
	writePoint(t, path("b.pcap"), frameEthernet, "pcap", per[3])
	good, err := os.ReadFile(path("b.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(path(name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	recordAt := func(b []byte, n int) int { // offset of record n's header (1-based)
		off := 24
		for ; n > 1; n-- {
			off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
		}
		return off
	}
	write("cut.pcap", good[:len(good)-7]) // tcpdump killed, or still writing
	long := bytes.Clone(good)
	r1 := recordAt(long, 1)
	binary.LittleEndian.PutUint32(long[r1+12:], binary.LittleEndian.Uint32(long[r1+8:])-1) // original length 97 < captured 98
	write("long.pcap", long)
	unsorted := bytes.Clone(good)
	r3 := recordAt(unsorted, 3) // the first echo's reply, a day late
	binary.LittleEndian.PutUint32(unsorted[r3:], binary.LittleEndian.Uint32(unsorted[r3:])+86400)
	write("unsorted.pcap", unsorted)
	write("empty.pcap", nil)
	write("text.pcap", []byte("this is not a capture\n"))

	// The same frames as pcapng with if_tsoffset 300e9 s (the year 11525),
	// and as pcap of link type USER0, which nothing here decodes.
	r, err := pcapgo.NewReader(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	var ng, user bytes.Buffer
	ngw, err := pcapgo.NewNgWriterInterface(&ng, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535, TimestampResolution: 9, TimestampOffset: 300e9}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	uw := pcapgo.NewWriter(&user)
	if err := uw.WriteFileHeader(65535, layers.LinkType(147)); err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if err := ngw.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		if err := uw.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := ngw.Flush(); err != nil {
		t.Fatal(err)
	}
	write("future.pcapng", ng.Bytes())
	write("user0.pcap", user.Bytes())
	return dir
}

// TestImperfectFiles runs top, bond-hash and locate on every imperfect file
// (docs/exit-status.md): the exit status, stderr exactly (DIR for the
// directory), and a sign that the result covers what could be read.
func TestImperfectFiles(t *testing.T) {
	dir := imperfectFiles(t)
	bondHash := []string{"bond-hash", "--policy", "layer3+4", "--slaves", "2"}
	const (
		cut     = "DIR/cut.pcap: file ends inside record 56 (107 of its 114 bytes are there): the 55 records before it are counted"
		long    = "DIR/long.pcap: skipped 1 record whose captured length exceeds the original length (first: record 1, 98 > 97 bytes)"
		future  = "DIR/future.pcapng: 56 frames timestamped outside 1970 to 2262-04-11 (first: frame 1, 11525-11-17T01:12:58.851079Z): "
		verdict = "VERDICT: a -> b added 0.120365 s to the round trip, on the reply"
	)
	tests := []struct {
		name   string
		args   []string // file names are relative to dir
		code   int
		stderr string // exactly, DIR for dir; lines end in \n
		stdout string // contained in stdout
	}{
		{"top cut", []string{"top", "cut.pcap"}, 0, "netburst top: warning: " + cut + "\n", "55 packets, 6006 bytes"},
		{"bond-hash cut", append(bondHash, "cut.pcap"), 0, "netburst bond-hash: warning: " + cut + "\n", "3 flow(s), 55 packet(s), 6006 byte(s)"},
		{"locate cut", []string{"locate", "a=a.pcap", "b=cut.pcap"}, 0, "netburst locate: warning: point b: " + cut + "\n", verdict},
		{"top long", []string{"top", "long.pcap"}, 0, "netburst top: warning: " + long + "\n", "55 packets, 6006 bytes"},
		{"bond-hash long", append(bondHash, "long.pcap"), 0, "netburst bond-hash: warning: " + long + "\n", "55 packet(s), 6006 byte(s)"},
		{"locate long", []string{"locate", "a=a.pcap", "b=long.pcap"}, 0, "netburst locate: warning: point b: " + long + "\n", verdict},
		{"top unsorted", []string{"top", "unsorted.pcap"}, 0, "", "56 packets, 6104 bytes in 24h0m0.000085s"},
		{"locate unsorted", []string{"locate", "a=a.pcap", "b=unsorted.pcap"}, 0, "", verdict},
		{"locate unsorted warning", []string{"locate", "a=a.pcap", "b=unsorted.pcap"}, 0, "",
			"warning: point b: timestamps go back 1 time(s) in the capture's order, by up to 23h59m59.000085s (at 19:52:59.851079, 192.168.47.111 > 192.168.47.127 id 21616 seq 101): sorted by time within 4096 observations"},
		{"locate --json unsorted", []string{"locate", "--json", "a=a.pcap", "b=unsorted.pcap"}, 0, "", `"kind": "unsorted"`},
		{"top future", []string{"top", "future.pcapng"}, 0, "netburst top: warning: " + future + "counted without their time (in no peak, start or end)\n", "56 packets, 6104 bytes\n"},
		{"top --json future", []string{"top", "--json", "future.pcapng"}, 0, "netburst top: warning: " + future + "counted without their time (in no peak, start or end)\n", `"packets": 56`},
		{"bond-hash future", append(bondHash, "future.pcapng"), 0, "", "56 packet(s), 6104 byte(s)"},
		{"locate future", []string{"locate", "a=a.pcap", "b=future.pcapng"}, 1, "netburst locate: warning: point b: " + future + "left out (locate needs their time)\n" +
			"netburst locate: error: point b: no ICMP echo seen (file DIR/future.pcapng: 56 frames, link type Ethernet, 0 not decodable; capture with a filter such as 'icmp or icmp6')\n", ""},
		{"top user0", []string{"top", "user0.pcap"}, 0, "", "56 frames could not be fully decoded (counted in the totals only)"},
		{"bond-hash user0", append(bondHash, "user0.pcap"), 1, "netburst bond-hash: error: DIR/user0.pcap: none of its 56 frames could be decoded (link type UnknownLinkType, 147): bond-hash reads Ethernet, Linux cooked and raw IP captures\n", ""},
		{"top empty", []string{"top", "empty.pcap"}, 1, "netburst top: error: DIR/empty.pcap: empty file\n", ""},
		{"bond-hash empty", append(bondHash, "empty.pcap"), 1, "netburst bond-hash: error: DIR/empty.pcap: empty file\n", ""},
		{"locate empty", []string{"locate", "a=a.pcap", "b=empty.pcap"}, 1, "netburst locate: error: point b: DIR/empty.pcap: empty file\n", ""},
		{"top text", []string{"top", "text.pcap"}, 1, "netburst top: error: DIR/text.pcap: not a pcap or pcapng file (starts with 0x74686973)\n", ""},
		{"locate text", []string{"locate", "a=a.pcap", "b=text.pcap"}, 1, "netburst locate: error: point b: DIR/text.pcap: not a pcap or pcapng file (starts with 0x74686973)\n", ""},
		{"locate bad threshold", []string{"locate", "--threshold=abc", "a=a.pcap", "b=b.pcap"}, 2, "netburst: error: --threshold=abc: not a duration (e.g. 500ms, 2s, 1m30s) (try --help)\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				if strings.HasSuffix(a, ".pcap") || strings.HasSuffix(a, ".pcapng") {
					if k := strings.IndexByte(a, '='); k >= 0 {
						a = a[:k+1] + filepath.Join(dir, a[k+1:])
					} else {
						a = filepath.Join(dir, a)
					}
				}
				args[i] = a
			}
			code, out, errs := runNetburst(t, args...)
			errs = strings.ReplaceAll(errs, dir, "DIR")
			if code != tt.code || errs != tt.stderr {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, errs, tt.code, tt.stderr)
			}
			if !strings.Contains(out, tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, out)
			}
		})
	}

	// One frame a day late must not inflate the peak (all bytes in one
	// bucket): the peak is at most the sorted file's.
	peak := func(name string) float64 {
		code, out, errs := runNetburst(t, "top", "--json", filepath.Join(dir, name))
		if code != 0 {
			t.Fatalf("top --json %s: exit %d: %s", name, code, errs)
		}
		var res struct {
			Peak float64 `json:"peak_bytes_per_second"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		return res.Peak
	}
	if sorted, unsorted := peak("b.pcap"), peak("unsorted.pcap"); unsorted <= 0 || unsorted > sorted {
		t.Errorf("peak of the unsorted file %v B/s, the sorted one's %v", unsorted, sorted)
	}
}

// TestCommandLine holds the top-level usage (docs/exit-status.md): help
// once, the version without the usage, no command is bad usage, a man page
// whose .TH header is one line.
func TestCommandLine(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // contained, in order
		usages int      // how many times stdout holds "usage: netburst"
		stderr string   // exactly
	}{
		{"help", []string{"--help"}, 0, []string{"usage: netburst", "Exit status: 0 done", "bond-hash"}, 1, ""},
		{"help top", []string{"help", "top"}, 0, []string{"usage: netburst top"}, 1, ""},
		{"version", []string{"--version"}, 0, []string{"netburst, version"}, 0, ""},
		{"no command", nil, 2, nil, 0, "netburst: error: no command given: one of ping, top, bond-hash, locate, spikes (try --help)\n"},
		{"unknown command", []string{"frob"}, 2, nil, 0, "netburst: error: expected command but got \"frob\" (try --help)\n"},
		{"unknown flag", []string{"top", "--frob", "x.pcap"}, 2, nil, 0, "netburst: error: unknown long flag '--frob' (try --help)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runNetburst(t, tt.args...)
			if code != tt.code || errs != tt.stderr {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, errs, tt.code, tt.stderr)
			}
			containsInOrder(t, out, tt.stdout)
			if n := strings.Count(out, "usage: netburst"); n != tt.usages {
				t.Errorf("usage printed %d times, want %d:\n%s", n, tt.usages, out)
			}
		})
	}
	// kingpin writes the man page and completion scripts to os.Stdout
	// itself: they are checked on the built command.
	bin := filepath.Join(t.TempDir(), "netburst")
	if out, err := exec.Command("go", "build", "-ldflags", "-X github.com/prometheus/common/version.Version=1.2.3", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		flag, want string
	}{
		{"--completion-script-bash", "complete -F _netburst_bash_autocomplete -o default netburst"},
		{"--completion-script-zsh", "#compdef netburst"},
	} {
		out, err := exec.Command(bin, tt.flag).Output()
		if err != nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s: %v, output lacks %q:\n%s", tt.flag, err, tt.want, out)
		}
	}
	out, err := exec.Command(bin, "--completion-bash", "top", "--").Output()
	if err != nil || !strings.Contains(string(out), "--by") {
		t.Errorf("--completion-bash top --: %v, %q: want top's flags", err, out)
	}
	man, err := exec.Command(bin, "--help-man").Output()
	lines := strings.SplitN(string(man), "\n", 3)
	if err != nil || len(lines) < 3 || !strings.HasPrefix(lines[0], `.TH netburst 1 "" "netburst 1.2.3" `) || strings.Count(lines[0], `"`)%2 != 0 || !strings.HasPrefix(lines[1], ".") {
		t.Errorf("--help-man: %v, first lines %q: want a one-line .TH header", err, lines[:min(2, len(lines))])
	}
}

// containsInOrder fails the test unless out holds each of parts, in order.
func containsInOrder(t *testing.T, out string, parts []string) {
	t.Helper()
	rest := out
	for _, s := range parts {
		i := strings.Index(rest, s)
		if i < 0 {
			t.Fatalf("stdout lacks %q (in order):\n%s", s, out)
		}
		rest = rest[i+len(s):]
	}
}
