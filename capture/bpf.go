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

// jumpIfX is jumpIf comparing A with the X register.
func (a *bpfAsm) jumpIfX(cond bpf.JumpTest, t, f int) {
	a.jumps = append(a.jumps, bpfJump{at: len(a.ins), t: t, f: f})
	a.ins = append(a.ins, bpf.JumpIfX{Cond: cond})
}

// jump emits an unconditional jump to label t.
func (a *bpfAsm) jump(t int) {
	a.jumps = append(a.jumps, bpfJump{at: len(a.ins), t: t, f: bpfAlways})
	a.ins = append(a.ins, bpf.Jump{})
}

// program fills in the jumps' skips and returns the instructions. Classic
// BPF jumps only forward, a conditional jump by at most 255 instructions:
// one whose target is further goes there through an unconditional jump (32
// bits of skip) put right after it, which moves what follows, so this is
// repeated until every jump reaches. The kernel takes at most
// maxBPFInstructions.
func (a *bpfAsm) program() ([]bpf.Instruction, error) {
	if len(a.ins) > maxBPFInstructions { // before the far jumps add to it
		return nil, errors.New("expression too long for the kernel (4096 instructions)")
	}
	for _, j := range a.jumps {
		for _, l := range [2]int{j.t, j.f} {
			if l >= 0 && (a.labels[l] < 0 || a.labels[l] <= j.at) {
				return nil, errors.New("internal error: backward jump")
			}
		}
	}
	target := func(j bpfJump, l int) int { // old index of a jump's target
		if l == bpfNext {
			return j.at + 1
		}
		return a.labels[l]
	}
	// far[k]: which targets of jump k go through an unconditional jump
	// (1: true, 2: false).
	far := make([]uint8, len(a.jumps))
	var pos []int // new index of each old instruction, and of the end
	for {
		pos = pos[:0]
		shift, k := 0, 0
		for i := 0; i <= len(a.ins); i++ {
			pos = append(pos, i+shift)
			if k < len(a.jumps) && a.jumps[k].at == i {
				shift += bits(far[k])
				k++
			}
		}
		changed := false
		for k, j := range a.jumps {
			if j.f == bpfAlways {
				continue
			}
			for bit, l := range [2]int{j.t, j.f} {
				m := uint8(1) << bit
				if far[k]&m == 0 && pos[target(j, l)]-pos[j.at]-1 > 255 {
					far[k] |= m
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	out := make([]bpf.Instruction, 0, pos[len(a.ins)])
	k := 0
	for i, ins := range a.ins {
		if k >= len(a.jumps) || a.jumps[k].at != i {
			out = append(out, ins)
			continue
		}
		j := a.jumps[k]
		at := pos[i]
		if j.f == bpfAlways {
			out = append(out, bpf.Jump{Skip: uint32(pos[target(j, j.t)] - at - 1)})
			k++
			continue
		}
		// Skips from the conditional jump, and the unconditional jumps
		// after it for the far targets.
		var skips [2]uint8
		var tramps []bpf.Instruction
		for bit, l := range [2]int{j.t, j.f} {
			if far[k]&(1<<bit) == 0 {
				skips[bit] = uint8(pos[target(j, l)] - at - 1)
				continue
			}
			skips[bit] = uint8(len(tramps))
			from := at + 1 + len(tramps)
			tramps = append(tramps, bpf.Jump{Skip: uint32(pos[target(j, l)] - from - 1)})
		}
		switch ji := ins.(type) {
		case bpf.JumpIf:
			ji.SkipTrue, ji.SkipFalse = skips[0], skips[1]
			out = append(out, ji)
		case bpf.JumpIfX:
			ji.SkipTrue, ji.SkipFalse = skips[0], skips[1]
			out = append(out, ji)
		}
		out = append(out, tramps...)
		k++
	}
	if len(out) > maxBPFInstructions {
		return nil, errors.New("expression too long for the kernel (4096 instructions)")
	}
	return out, nil
}

// bits counts the set bits of a far mask.
func bits(m uint8) int { return int(m&1) + int(m>>1&1) }
