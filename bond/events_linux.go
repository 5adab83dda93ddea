package bond

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
)

// LinkEvents subscribes to rtnetlink link notifications and signals each
// on the returned channel (coalesced: a pending signal absorbs the next)
// until ctx ends.
func LinkEvents(ctx context.Context) (<-chan struct{}, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{ErrorCallback: func(error) {}}); err != nil {
		return nil, fmt.Errorf("bond: subscribe to link events: %w", err)
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-updates:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, nil
}
