//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/netburst/netburst/capture"
)

func main() {
	dev := flag.String("i", "", "interface")
	dur := flag.Duration("d", 5*time.Second, "how long to capture")
	snaplen := flag.Int("s", 128, "snap length")
	prof := flag.String("cpuprofile", "", "write a CPU profile to this file")
	memory := flag.Int64("m", 64<<20, "capture memory in bytes (--capture.memory)")
	ready := flag.String("ready", "", "create this file once the capture runs (rings allocated)")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "livecap:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*dev, *dur, *snaplen, *memory, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "livecap:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// cpu returns the process's user and system CPU time so far.
func cpu() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func run(dev string, dur time.Duration, snaplen int, memory int64, ready string) error {
	d, err := capture.OpenDevice(dev, snaplen, false, 0, 0)
	if err != nil {
		return err
	}
	c, err := capture.New(capture.Config{Snaplen: snaplen, Memory: memory}, []capture.Device{d})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o600); err != nil {
			return err
		}
	}
	u0, s0 := cpu()
	if err := c.Run(ctx); err != nil {
		return err
	}
	u1, s1 := cpu()
	user, sys := u1-u0, s1-s0
	used := user + sys
	st := c.Stats().Devices[0]
	perPkt := 0.0
	if st.Packets > 0 {
		perPkt = float64(used.Nanoseconds()) / float64(st.Packets)
	}
	fmt.Printf("netburst capture: %d frames in %v (%.0f pps), kernel drops %d, ring drops %d, CPU %v (user %v, sys %v) = %.0f ns/frame\n",
		st.Packets, dur, float64(st.Packets)/dur.Seconds(), st.KernelDrops, st.RingDropped, used.Round(time.Millisecond),
		user.Round(time.Millisecond), sys.Round(time.Millisecond), perPkt)
	return nil
}
