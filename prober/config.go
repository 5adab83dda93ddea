package prober

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/netburst/netburst/spike"
)

// Mode selects the kind of ICMP socket.
type Mode string

// Socket modes.
const (
	// ModeAuto uses an unprivileged ICMP datagram socket where
	// net.ipv4.ping_group_range allows it and a raw socket otherwise.
	ModeAuto Mode = "auto"
	// ModeDatagram forces an ICMP datagram ("ping") socket.
	ModeDatagram Mode = "datagram"
	// ModeRaw forces a raw socket (needs CAP_NET_RAW).
	ModeRaw Mode = "raw"
)

// ParseMode parses a Mode name ("auto", "datagram" or "unprivileged", "raw").
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return ModeAuto, nil
	case "datagram", "dgram", "unprivileged":
		return ModeDatagram, nil
	case "raw":
		return ModeRaw, nil
	}
	return "", invalid("probe mode %q: want auto, datagram or raw", s)
}

// TimestampSource says where the two times of an RTT came from.
type TimestampSource string

// Timestamp sources, best first.
const (
	// SourceKernel: software transmit stamp from the error queue and
	// receive stamp from SO_TIMESTAMPNS.
	SourceKernel TimestampSource = "kernel"
	// SourceKernelRX: kernel receive stamp, userspace send time (the
	// transmit stamp was missing).
	SourceKernelRX TimestampSource = "kernel_rx"
	// SourceUserspace: both times taken by the prober itself.
	SourceUserspace TimestampSource = "userspace"
	// SourceNone: no RTT measured yet.
	SourceNone TimestampSource = "none"
)

// Errors a caller can test with errors.Is.
var (
	// ErrInvalidConfig marks a configuration or target the prober refuses.
	// It adds no words to the messages it marks: they say what is wrong.
	ErrInvalidConfig = errors.New("invalid probe configuration")
	// ErrUnsupported is returned on platforms without the Linux sockets.
	ErrUnsupported = errors.New("ICMP prober is only supported on Linux")
	// ErrResolve marks a target name that did not resolve (retried).
	ErrResolve = errors.New("target does not resolve")
)

// Defaults.
const (
	DefaultInterval        = 100 * time.Millisecond
	DefaultTimeout         = time.Second
	DefaultSpikeThreshold  = 10 * time.Millisecond
	DefaultSpikeFactor     = 5.0
	DefaultResolveInterval = 5 * time.Minute
	// maxInFlight bounds timeout/interval: the sequence space (16 bits)
	// must tell a late reply from a new one.
	maxInFlight = 16384
)

// Target is one destination to probe and its per-target options.
type Target struct {
	// Name labels the target's metrics; defaults to Host.
	Name string
	// Host is an IP address or a DNS name (re-resolved periodically).
	Host string
	// Network restricts resolution of names: "ip" (default, first
	// address), "ip4" or "ip6".
	Network string
	// Source is the source address to send from (optional).
	Source netip.Addr
	// Interface binds the target's socket to a device (SO_BINDTODEVICE).
	Interface string
	// TOS is the IPv4 TOS byte or IPv6 traffic class (DSCP << 2).
	TOS int
	// TTL is the IPv4 TTL or IPv6 hop limit; 0 means the system default.
	TTL int
	// Size is the echo payload size in bytes; 0 means 56.
	Size int
	// Interval overrides Config.Interval for this target when > 0.
	Interval time.Duration
	// Labels are custom labels on every series of the target (at most
	// MaxLabels, none of ReservedLabels). Read, never changed, once
	// given to SetTargets.
	Labels map[string]string
}

// ParseTarget parses "name=addr" or "addr", as --probe.target takes it.
func ParseTarget(s string) (Target, error) {
	name, host, ok := strings.Cut(s, "=")
	if !ok {
		host, name = s, s
	}
	name, host = strings.TrimSpace(name), strings.TrimSpace(host)
	if host == "" || name == "" {
		return Target{}, invalid("probe target %q: want name=address or address", s)
	}
	return Target{Name: name, Host: host}, nil
}

// normalize fills defaults and validates a target.
func (t Target) normalize() (Target, error) {
	if t.Host == "" {
		return t, invalid("target %q: empty host", t.Name)
	}
	if t.Name == "" {
		t.Name = t.Host
	}
	switch t.Network {
	case "":
		t.Network = "ip"
	case "ip", "ip4", "ip6":
	default:
		return t, invalid("target %q: network %q: want ip, ip4 or ip6", t.Name, t.Network)
	}
	if t.Size == 0 {
		t.Size = defaultPayload
	}
	max := MaxPayloadSize4
	if t.Network == "ip6" {
		max = MaxPayloadSize6
	}
	if a, err := netip.ParseAddr(t.Host); err == nil && a.Unmap().Is6() {
		max = MaxPayloadSize6
	}
	if t.Size < MinPayloadSize || t.Size > max {
		return t, invalid("target %q: payload size %d out of range %d..%d", t.Name, t.Size, MinPayloadSize, max)
	}
	if t.TOS < 0 || t.TOS > 255 {
		return t, invalid("target %q: TOS %d out of range 0..255", t.Name, t.TOS)
	}
	if t.TTL < 0 || t.TTL > 255 {
		return t, invalid("target %q: TTL %d out of range 1..255", t.Name, t.TTL)
	}
	if t.Interval < 0 {
		return t, invalid("target %q: negative interval", t.Name)
	}
	if t.Source.IsValid() {
		if a, err := netip.ParseAddr(t.Host); err == nil && a.Unmap().Is4() != t.Source.Unmap().Is4() {
			return t, invalid("target %q: source %s and address %s are of different families", t.Name, t.Source, a)
		}
	}
	if len(t.Interface) > 15 {
		return t, invalid("target %q: interface name %q longer than 15 bytes", t.Name, t.Interface)
	}
	if err := checkLabels(t.Name, t.Labels); err != nil {
		return t, err
	}
	if len(t.Labels) == 0 {
		t.Labels = nil // no labels is one definition, not two
	}
	return t, nil
}

// Config configures a Prober.
type Config struct {
	// Interval between two probes of one target (default 100 ms).
	Interval time.Duration
	// Timeout after which an unanswered probe is lost (default 1 s).
	Timeout time.Duration
	// Mode selects datagram or raw sockets (default auto).
	Mode Mode
	// SpikeThreshold is the absolute RTT floor of a spike (default 10 ms).
	SpikeThreshold time.Duration
	// SpikeFactor k: an RTT >= k x the rolling median is a spike too, if
	// also >= SpikeThreshold (default 5).
	SpikeFactor float64
	// ResolveInterval is how often names are re-resolved (default 5 min);
	// failed names are retried sooner.
	ResolveInterval time.Duration
	// Count stops each target after this many probes (0: run until the
	// context ends). Run returns once every probe is answered or lost.
	Count int
	// Observer receives every in-time RTT (may be nil).
	Observer Observer
	// Spikes receives RTT spike events (may be nil).
	Spikes spike.Sink
	// Resolver resolves names (nil: the system resolver).
	Resolver Resolver
	// Logger receives one line per target and cause that cannot send,
	// rate-limited, and one when it probes again (nil: no logging).
	Logger *slog.Logger
}

// invalidConfig is a message marked as ErrInvalidConfig for errors.Is,
// printed as it is.
type invalidConfig struct{ err error }

func (e invalidConfig) Error() string   { return e.err.Error() }
func (e invalidConfig) Unwrap() []error { return []error{e.err, ErrInvalidConfig} }

// invalid is fmt.Errorf marked as ErrInvalidConfig.
func invalid(format string, a ...any) error { return invalidConfig{fmt.Errorf(format, a...)} }

// Validate reports what New would refuse in c, without opening anything:
// the exporter checks its flags with it before any target is configured.
func (c Config) Validate() error {
	n, err := c.normalize()
	if err != nil {
		return err
	}
	_, err = inFlightSlots(n.Interval, n.Timeout)
	return err
}

func (c Config) normalize() (Config, error) {
	if math.IsNaN(c.SpikeFactor) || math.IsInf(c.SpikeFactor, 0) {
		return c, invalid("spike factor %v is not a number", c.SpikeFactor)
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Interval < time.Millisecond {
		return c, invalid("probe interval %v below 1ms", c.Interval)
	}
	if c.Timeout < 0 || c.Timeout > time.Minute {
		return c, invalid("probe timeout %v out of range 0..1m", c.Timeout)
	}
	if c.Mode == "" {
		c.Mode = ModeAuto
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return c, err
	}
	if c.SpikeThreshold == 0 {
		c.SpikeThreshold = DefaultSpikeThreshold
	}
	if c.SpikeThreshold < 0 {
		return c, invalid("spike threshold %v is negative", c.SpikeThreshold)
	}
	if c.SpikeFactor == 0 {
		c.SpikeFactor = DefaultSpikeFactor
	}
	if c.SpikeFactor < 1 {
		return c, invalid("spike factor %v below 1", c.SpikeFactor)
	}
	if c.ResolveInterval == 0 {
		c.ResolveInterval = DefaultResolveInterval
	}
	if c.Count < 0 {
		return c, invalid("count %d is negative", c.Count)
	}
	return c, nil
}

// inFlightSlots is the size of a target's probe ring: enough to hold every
// probe still waiting (timeout/interval) and as many again whose late
// replies are still recognised as ours.
func inFlightSlots(interval, timeout time.Duration) (int, error) {
	n := int((timeout+interval-1)/interval) + 1
	if n > maxInFlight {
		return 0, invalid("timeout %v / interval %v = %d probes in flight, more than %d", timeout, interval, n, maxInFlight)
	}
	return 2*n + 2, nil
}
