package prober

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// Cause classifies why a probe could not be sent, in a small fixed set a
// user can alert on and act upon (the cause label of
// netburst_probe_send_failing).
type Cause string

// Causes of a failed send. The errnos are those Linux returns (measured on
// 6.18 with veth pairs in namespaces; see docs/prober.md).
const (
	// CausePermission: no ICMP socket can be opened (socket(2) fails with
	// EPERM for raw sockets without CAP_NET_RAW, EACCES for datagram
	// sockets outside net.ipv4.ping_group_range).
	CausePermission Cause = "permission"
	// CauseProhibited: the kernel refused the packet on the way out with
	// EACCES or EPERM: a prohibit route, a netfilter or cgroup BPF rule.
	CauseProhibited Cause = "prohibited"
	// CauseNoRoute: ENETUNREACH (no route, or a bound IPv6 socket's
	// device without its address) or EHOSTUNREACH (an unreachable route).
	CauseNoRoute Cause = "no_route"
	// CauseNoDevice: the socket's interface is gone or was re-created
	// (ENODEV, ENXIO; a bound IPv6 socket says ENETUNREACH, so the prober
	// checks the binding itself).
	CauseNoDevice Cause = "no_device"
	// CauseNetworkDown: the interface is down (ENETDOWN; ENETUNREACH from
	// a socket bound to a device that is down).
	CauseNetworkDown Cause = "network_down"
	// CauseMessageSize: EMSGSIZE, a probe larger than the path allows.
	CauseMessageSize Cause = "message_size"
	// CauseOther is any other error; its text says what.
	CauseOther Cause = "other"
)

// Causes lists every Cause, in a fixed order.
func Causes() []Cause {
	return []Cause{CausePermission, CauseProhibited, CauseNoRoute, CauseNoDevice, CauseNetworkDown, CauseMessageSize, CauseOther}
}

// sendError is an error sendmsg(2) returned, as opposed to one opening the
// socket: the same errno means different things in the two (EACCES from
// socket(2) is ping_group_range, from sendmsg(2) a prohibit route).
type sendError struct {
	dst netip.Addr
	err error
}

func (e *sendError) Error() string { return fmt.Sprintf("send echo to %s: %v", e.dst, e.err) }
func (e *sendError) Unwrap() error { return e.err }

// ClassifyError returns the Cause of an error the prober got opening a
// socket (as CheckSocket returns it) or sending a probe.
func ClassifyError(err error) Cause {
	if err == nil {
		return ""
	}
	var se *sendError
	sending := errors.As(err, &se)
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		if sending {
			return CauseProhibited
		}
		return CausePermission
	case errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO):
		return CauseNoDevice
	case errors.Is(err, syscall.ENETDOWN):
		return CauseNetworkDown
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return CauseNoRoute
	case errors.Is(err, syscall.EMSGSIZE):
		return CauseMessageSize
	}
	return CauseOther
}

// Advice says in a user's words why a probe failed with err and what to
// do about it; dev is the target's interface, if any. It returns "" where
// the error's own text is all there is.
func Advice(err error, dev string) string {
	return explain(ClassifyError(err), err, dev)
}

func explain(c Cause, err error, dev string) string {
	switch c {
	case CausePermission:
		return "permission denied: run with CAP_NET_RAW or add the group to net.ipv4.ping_group_range"
	case CauseProhibited:
		return "prohibited: a prohibit route or a firewall rule (netfilter, cgroup BPF) refuses the probe"
	case CauseNoRoute:
		if dev != "" {
			return "no route to host through interface " + dev
		}
		return "no route to host"
	case CauseNoDevice:
		if dev != "" {
			return "interface " + dev + " is gone"
		}
		return "no such device: the interface the probe names is gone"
	case CauseNetworkDown:
		if dev != "" {
			return "interface " + dev + " is down"
		}
		return "network is down"
	case CauseMessageSize:
		return "message too long: the probe is larger than the path allows; lower its size"
	}
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "the source address is not on this host (or still tentative)"
	case errors.Is(err, syscall.EINVAL):
		return "invalid argument (a blackhole route to the target gives this too)"
	}
	return ""
}

// SendFailure is why a target's latest send attempt failed.
type SendFailure struct {
	// Cause is the failure's class; "" when the latest send succeeded (or
	// none was attempted yet).
	Cause Cause
	// Error is the latest error's text.
	Error string
}
