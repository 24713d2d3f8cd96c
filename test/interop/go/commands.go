// The line protocol's commands: connection-level ones here, service commands in their own files.
package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
)

func (p *Peer) run(ctx context.Context, cmd string, args []string) (string, error) {
	need := func(n int) error {
		if len(args) < n {
			return fmt.Errorf("%s needs %d arguments", cmd, n)
		}
		return nil
	}
	switch cmd {
	case "connect":
		if err := need(1); err != nil {
			return "", err
		}
		return "", p.connect(ctx, args[0])
	case "identify":
		if err := need(1); err != nil {
			return "", err
		}
		return p.identify(ctx, args[0])
	case "ping":
		if err := need(1); err != nil {
			return "", err
		}
		return p.ping(ctx, args[0])
	case "peers":
		ids := []string{}
		for _, id := range p.h.Network().Peers() {
			ids = append(ids, id.String())
		}
		sort.Strings(ids)
		return strings.Join(ids, " "), nil
	case "hangup":
		if err := need(1); err != nil {
			return "", err
		}
		id, err := peer.Decode(args[0])
		if err != nil {
			return "", err
		}
		return "", p.h.Network().ClosePeer(id)
	case "blob":
		if err := need(2); err != nil {
			return "", err
		}
		return p.blob(ctx, args[0], args[1])
	case "echo":
		if err := need(3); err != nil {
			return "", err
		}
		return p.echo(ctx, args[0], args[1], args[2])
	case "dht-bootstrap", "dht-find", "dht-table":
		if p.dht == nil {
			return "", errors.New("dht not enabled (-dht-prefix)")
		}
		return p.dht.run(ctx, cmd, args)
	case "sub", "pub", "topic-peers":
		if p.ps == nil {
			return "", errors.New("pubsub not enabled (-pubsub)")
		}
		return p.ps.run(ctx, cmd, args)
	case "req", "msg-stats", "send-forged":
		return p.msg.run(ctx, cmd, args)
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

func (p *Peer) connect(ctx context.Context, addr string) error {
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return err
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// Connect waits for identify to finish on the new connection
	return p.h.Connect(cctx, *info)
}

type idServiceHost interface{ IDService() identify.IDService }

// identify waits for identify on every connection to the peer and lists what the peer told us.
func (p *Peer) identify(ctx context.Context, who string) (string, error) {
	id, err := peer.Decode(who)
	if err != nil {
		return "", err
	}
	conns := p.h.Network().ConnsToPeer(id)
	if len(conns) == 0 {
		return "", errors.New("not connected")
	}
	if ih, ok := p.h.(idServiceHost); ok {
		for _, c := range conns {
			select {
			case <-ih.IDService().IdentifyWait(c):
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
	protos, err := p.h.Peerstore().GetProtocols(id)
	if err != nil {
		return "", err
	}
	names := []string{}
	for _, pr := range protos {
		names = append(names, string(pr))
	}
	sort.Strings(names)
	agent, _ := p.h.Peerstore().Get(id, "AgentVersion")
	return fmt.Sprintf("agent=%v protocols=%s", agent, strings.Join(names, ",")), nil
}

func (p *Peer) ping(ctx context.Context, who string) (string, error) {
	id, err := peer.Decode(who)
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res := <-ping.Ping(cctx, p.h, id)
	if res.Error != nil {
		return "", res.Error
	}
	return strconv.FormatInt(res.RTT.Microseconds(), 10), nil
}
