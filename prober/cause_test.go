package prober

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// The same errno means different things when socket(2) returns it and when
// sendmsg(2) does; TestBoundSocketRecreated measures the kernel's side.
func TestClassifyError(t *testing.T) {
	dst := netip.MustParseAddr("198.18.0.2")
	open := func(e syscall.Errno) error { return fmt.Errorf("raw ICMP socket: %w", e) }
	send := func(e syscall.Errno) error { return &sendError{dst: dst, err: e} }
	for _, tc := range []struct {
		err    error
		dev    string
		cause  Cause
		advice string
	}{
		{open(syscall.EPERM), "", CausePermission, "CAP_NET_RAW"},
		{open(syscall.EACCES), "", CausePermission, "ping_group_range"},
		{open(syscall.ENODEV), "vif3.0", CauseNoDevice, "interface vif3.0 is gone"},
		{send(syscall.EACCES), "", CauseProhibited, "prohibit route"},
		{send(syscall.EPERM), "", CauseProhibited, "firewall"},
		{send(syscall.ENODEV), "vif3.0", CauseNoDevice, "interface vif3.0 is gone"},
		{send(syscall.ENXIO), "", CauseNoDevice, "no such device"},
		{send(syscall.ENETUNREACH), "", CauseNoRoute, "no route to host"},
		{send(syscall.EHOSTUNREACH), "eth1", CauseNoRoute, "through interface eth1"},
		{send(syscall.ENETDOWN), "eth1", CauseNetworkDown, "interface eth1 is down"},
		{send(syscall.EMSGSIZE), "", CauseMessageSize, "lower its size"},
		{send(syscall.EADDRNOTAVAIL), "", CauseOther, "source address"},
		{send(syscall.EINVAL), "", CauseOther, "blackhole"},
		{send(syscall.ENOBUFS), "", CauseOther, ""},
	} {
		if got := ClassifyError(tc.err); got != tc.cause {
			t.Errorf("ClassifyError(%v) = %q, want %q", tc.err, got, tc.cause)
		}
		a := Advice(tc.err, tc.dev)
		if tc.advice == "" && a != "" || !strings.Contains(a, tc.advice) {
			t.Errorf("Advice(%v, %q) = %q, want it to say %q", tc.err, tc.dev, a, tc.advice)
		}
	}
	if ClassifyError(nil) != "" {
		t.Errorf("ClassifyError(nil) is not empty")
	}
	if got := send(syscall.ENODEV).Error(); got != "send echo to 198.18.0.2: no such device" {
		t.Errorf("send error text %q", got)
	}
}
