// Command interop-peer is a go-libp2p test peer for dmsnet's interop suite (test/interop).
//
// It runs TCP + Noise + yamux + identify + ping, optionally a private network (Kubo swarm.key),
// kad-dht under a given protocol prefix and gossipsub with strict signing, plus dmsnet's own
// direct-message protocol (written from docs/protocols.md only). The Node tests drive it with
// flags and a line protocol: one command per line on stdin, `<id> <cmd> args...`; every command
// is answered by one line `<id> ok ...` or `<id> err <reason>`; unsolicited lines start with `!`.
// The first line on stdout is `ready <peer-id> <listen-addr>...`.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/pnet"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// Peer is the running test peer: the host plus the optional services.
type Peer struct {
	h    host.Host
	priv crypto.PrivKey
	dht  *dhtService
	ps   *pubsubService
	msg  *msgService
	out  *lineWriter
}

// lineWriter serialises output lines from concurrent command goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
	l.w.WriteString("\n")
	l.w.Flush()
}

func main() {
	listen := flag.String("listen", "/ip4/127.0.0.1/tcp/0", "listen multiaddr")
	pskFile := flag.String("psk", "", "Kubo-format swarm.key file: join that private network")
	dhtPrefix := flag.String("dht-prefix", "", "run kad-dht (server mode) under this protocol prefix, e.g. /dmsnet")
	withPubsub := flag.Bool("pubsub", false, "run gossipsub")
	pubsubSign := flag.Bool("pubsub-sign", true, "sign gossipsub messages (StrictSign); false = LaxNoSign (author and seqno, no signature)")
	msgProto := flag.String("msg-protocol", "/dmsnet/msg/1.0.0", "dmsnet direct-message protocol id")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		fatal("key: %v", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(*listen),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Ping(true),
		libp2p.UserAgent("dmsnet-interop-go/1"),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
	}
	if *pskFile != "" {
		f, err := os.Open(*pskFile)
		if err != nil {
			fatal("psk: %v", err)
		}
		psk, err := pnet.DecodeV1PSK(f)
		f.Close()
		if err != nil {
			fatal("psk: %v", err)
		}
		opts = append(opts, libp2p.PrivateNetwork(psk))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		fatal("host: %v", err)
	}
	defer h.Close()

	p := &Peer{h: h, priv: priv, out: &lineWriter{w: bufio.NewWriter(os.Stdout)}}
	registerTestProtocols(h)
	p.msg = newMsgService(p, *msgProto)
	if *dhtPrefix != "" {
		if p.dht, err = newDHT(h, *dhtPrefix); err != nil {
			fatal("dht: %v", err)
		}
	}
	if *withPubsub {
		if p.ps, err = newPubsub(ctx, p, *pubsubSign); err != nil {
			fatal("pubsub: %v", err)
		}
	}

	addrs := []string{}
	for _, a := range h.Addrs() {
		addrs = append(addrs, a.String())
	}
	p.out.printf("ready %s %s", h.ID(), strings.Join(addrs, " "))

	var wg sync.WaitGroup
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		id, cmd, args := fields[0], fields[1], fields[2:]
		if cmd == "quit" {
			p.out.printf("%s ok", id)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Minute)
			defer ccancel()
			res, err := p.run(cctx, cmd, args)
			if err != nil {
				p.out.printf("%s err %s", id, strings.ReplaceAll(err.Error(), "\n", " "))
				return
			}
			if res == "" {
				p.out.printf("%s ok", id)
			} else {
				p.out.printf("%s ok %s", id, res)
			}
		}()
	}
	// stdin closed or quit: stop at once (in-flight commands are abandoned)
	cancel()
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "interop-peer: "+format+"\n", args...)
	os.Exit(2)
}
