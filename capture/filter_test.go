package capture

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// TestFilterProgram runs the assembled filter in x/net/bpf's virtual machine,
// the same semantics as the kernel's classic BPF.
func TestFilterProgram(t *testing.T) {
	tcp4 := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp(), make(gopacket.Payload, 500))
	udp6 := serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), payload)
	tagged := serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolUDP), udp())
	arp := serialize(t, eth(layers.EthernetTypeARP), payload)
	tests := []struct {
		name   string
		ipOnly bool
		frame  []byte
		want   int
	}{
		{"tcp4 cut to snaplen", false, tcp4, 128},
		{"short frame whole", false, udp6, len(udp6)},
		{"arp passes without ipOnly", false, arp, len(arp)},
		{"ipOnly tcp4", true, tcp4, 128},
		{"ipOnly udp6", true, udp6, len(udp6)},
		{"ipOnly tagged", true, tagged, len(tagged)},
		{"ipOnly drops arp", true, arp, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := FilterProgram(layers.LinkTypeEthernet, 128, tt.ipOnly)
			if err != nil {
				t.Fatal(err)
			}
			prog, ok := bpf.Disassemble(raw)
			if !ok {
				t.Fatal("program does not disassemble")
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("the VM rejects the program: %v", err)
			}
			got, err := vm.Run(tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			// The kernel keeps min(return value, frame length) bytes.
			got = min(got, len(tt.frame))
			if got != tt.want {
				t.Errorf("filter keeps %d bytes, want %d", got, tt.want)
			}
		})
	}
	if _, err := FilterProgram(layers.LinkTypeEthernet, 0, false); err == nil {
		t.Error("snap length 0 accepted")
	}
}
