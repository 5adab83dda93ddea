package capture

import (
	"errors"

	"golang.org/x/net/bpf"
)

// maxBPFInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS).
const maxBPFInstructions = 4096

// bpfNext is the jump target "the next instruction" of bpfAsm's jumps.
const bpfNext = -1

// bpfAsm assembles classic BPF with symbolic jump targets, resolved at the
// end, so that the capture's programs (FilterProgram, Filter.Program,
// EchoFilter) are written as blocks rather than hand-counted skips. Labels
// are made with label, placed with place and jumped to forward only, as
// classic BPF jumps.
type bpfAsm struct {
	ins    []bpf.Instruction
	jumps  []bpfJump
	labels []int // label -> instruction index, -1 until placed
}

// bpfJump is a jump to resolve: a JumpIf at at (to t when its condition
// holds, else to f) or, with f == bpfAlways, a Jump to t.
type bpfJump struct {
	at   int
	t, f int
}

// bpfAlways marks an unconditional jump in bpfJump.f.
const bpfAlways = -2

// label returns a new label, to place later.
func (a *bpfAsm) label() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

// place puts label l at the next instruction.
func (a *bpfAsm) place(l int) { a.labels[l] = len(a.ins) }

// op emits an instruction that does not jump.
func (a *bpfAsm) op(i bpf.Instruction) { a.ins = append(a.ins, i) }

// jumpIf emits a conditional jump comparing A with val: to label t when
// cond holds, else to label f (either may be bpfNext).
func (a *bpfAsm) jumpIf(cond bpf.JumpTest, val uint32, t, f int) {
	a.jumps = append(a.jumps, bpfJump{at: len(a.ins), t: t, f: f})
	a.ins = append(a.ins, bpf.JumpIf{Cond: cond, Val: val})
}

// jump emits an unconditional jump to label t.
func (a *bpfAsm) jump(t int) {
	a.jumps = append(a.jumps, bpfJump{at: len(a.ins), t: t, f: bpfAlways})
	a.ins = append(a.ins, bpf.Jump{})
}

// program fills in the jumps' skips and returns the instructions: classic
// BPF jumps only forward, by at most 255 instructions for a conditional
// jump, and the kernel takes at most maxBPFInstructions.
func (a *bpfAsm) program() ([]bpf.Instruction, error) {
	skip := func(from, l int) (int, error) {
		if l == bpfNext {
			return 0, nil
		}
		d := a.labels[l] - from - 1
		if a.labels[l] < 0 || d < 0 {
			return 0, errors.New("internal error: backward jump")
		}
		return d, nil
	}
	for _, j := range a.jumps {
		tsk, err := skip(j.at, j.t)
		if err != nil {
			return nil, err
		}
		if j.f == bpfAlways {
			a.ins[j.at] = bpf.Jump{Skip: uint32(tsk)}
			continue
		}
		fsk, err := skip(j.at, j.f)
		if err != nil {
			return nil, err
		}
		if tsk > 255 || fsk > 255 {
			return nil, errors.New("expression too long for classic BPF jumps")
		}
		ji := a.ins[j.at].(bpf.JumpIf)
		ji.SkipTrue, ji.SkipFalse = uint8(tsk), uint8(fsk)
		a.ins[j.at] = ji
	}
	if len(a.ins) > maxBPFInstructions {
		return nil, errors.New("expression too long for the kernel")
	}
	return a.ins, nil
}
