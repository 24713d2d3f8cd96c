// kad-dht in server mode under a protocol prefix (dmsnet uses /dmsnet -> /dmsnet/kad/1.0.0).
package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

type dhtService struct{ d *dht.IpfsDHT }

// acceptAll validates dmsnet's `dmsnet-adv` records as opaque: this peer only routes them.
type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error        { return nil }
func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil }

func newDHT(h host.Host, prefix string) (*dhtService, error) {
	d, err := dht.New(h,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(protocol.ID(prefix)),
		dht.NamespacedValidator("dmsnet-adv", acceptAll{}),
	)
	if err != nil {
		return nil, err
	}
	return &dhtService{d: d}, nil
}

func (s *dhtService) run(ctx context.Context, cmd string, args []string) (string, error) {
	switch cmd {
	case "dht-bootstrap":
		// one synchronous routing-table refresh (a self lookup and random walks)
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		select {
		case err := <-s.d.RefreshRoutingTable():
			if err != nil {
				return "", err
			}
		case <-cctx.Done():
			return "", cctx.Err()
		}
		return strconv.Itoa(s.d.RoutingTable().Size()), nil
	case "dht-table":
		ids := []string{}
		for _, id := range s.d.RoutingTable().ListPeers() {
			ids = append(ids, id.String())
		}
		sort.Strings(ids)
		return fmt.Sprintf("%d %s", len(ids), strings.Join(ids, " ")), nil
	case "dht-find":
		if len(args) < 1 {
			return "", fmt.Errorf("dht-find needs a peer id")
		}
		id, err := peer.Decode(args[0])
		if err != nil {
			return "", err
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		info, err := s.d.FindPeer(cctx, id)
		if err != nil {
			return "", err
		}
		addrs := []string{}
		for _, a := range info.Addrs {
			addrs = append(addrs, a.String())
		}
		return strings.Join(addrs, " "), nil
	}
	return "", fmt.Errorf("unknown dht command %q", cmd)
}
