package ratelog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogOncePerKeyAndInterval(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{AddSource: true})), time.Minute)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }

	steps := []struct {
		advance time.Duration
		key     string
		logged  bool
	}{
		{0, "a", true},                // first of a key: at once
		{time.Second, "a", false},     // within the interval
		{time.Second, "b", true},      // another key is independent
		{time.Second, "a", false},     // still within a's minute
		{57 * time.Second, "a", true}, // 60 s after a's first line: logged, with suppressed=2
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := l.Log(slog.LevelWarn, s.key, "failed", "key", s.key); got != s.logged {
			t.Errorf("step %d (%s at +%v): logged %v, want %v", i, s.key, s.advance, got, s.logged)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "suppressed=2") {
		t.Errorf("third line %q lacks suppressed=2", lines[2])
	}
	if !strings.Contains(lines[0], "source=") || !strings.Contains(lines[0], "ratelog_test.go:") {
		t.Errorf("first line %q does not name its caller as source", lines[0])
	}
	if strings.Contains(lines[0], "suppressed") {
		t.Errorf("first line %q reports suppressed lines", lines[0])
	}
}

func TestForgetLogsTheNextFailureAtOnce(t *testing.T) {
	l := New(nil, time.Hour)
	if !l.Log(slog.LevelWarn, "k", "x") {
		t.Fatal("first line not logged")
	}
	if l.Log(slog.LevelWarn, "k", "x") {
		t.Fatal("repeat within the interval logged")
	}
	l.Forget("k")
	if !l.Log(slog.LevelWarn, "k", "x") {
		t.Error("line after Forget not logged")
	}
}

func TestKeysAreBounded(t *testing.T) {
	l := New(nil, time.Hour)
	for i := 0; i < 3*maxKeys; i++ {
		l.Log(slog.LevelInfo, fmt.Sprint(i), "x")
	}
	if n := len(l.keys); n > maxKeys {
		t.Errorf("%d keys remembered, bound is %d", n, maxKeys)
	}
}
