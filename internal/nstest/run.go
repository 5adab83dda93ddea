package nstest

import (
	"context"
	"errors"
	"testing"
)

// Go runs run (a sampler's, prober's or capture's Run, say) in a goroutine
// until the test ends: t.Cleanup cancels its context and waits for it to
// return, so nothing it does outlives the test's namespaces. An error other
// than the context's fails the test.
func Go(t testing.TB, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	})
}
