// dmsnet's direct-message protocol (/dmsnet/msg/1.0.0), written from docs/protocols.md
// ("Direct messages"): length-prefixed frames carrying signed envelopes, answered by ACK,
// RESPONSE or NACK frames with the same id. This peer serves the message type `interop.hash`
// (response: SHA-256 of the payload) and can act as a client of a dmsnet node.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

const (
	kindMessage  = 1
	kindAck      = 2
	kindResponse = 3
	kindNack     = 4
	flagWantResp = 1
	maxFrame     = 1<<20 + 4096
	hashType     = "interop.hash"
)

type frame struct {
	kind byte
	id   uint32
	rest []byte
}

func writeFrame(w io.Writer, f frame) error {
	buf := make([]byte, 9+len(f.rest))
	binary.BigEndian.PutUint32(buf, uint32(5+len(f.rest)))
	buf[4] = f.kind
	binary.BigEndian.PutUint32(buf[5:], f.id)
	copy(buf[9:], f.rest)
	_, err := w.Write(buf)
	return err
}

func readFrame(r io.Reader) (frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return frame{}, fmt.Errorf("frame of %d bytes is over the limit", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return frame{}, err
	}
	if n < 5 {
		return frame{kind: 0}, nil // too short: skipped by the caller
	}
	return frame{kind: body[0], id: binary.BigEndian.Uint32(body[1:5]), rest: body[5:]}, nil
}

func nack(id uint32, reason, msg string) frame {
	return frame{kind: kindNack, id: id, rest: []byte(reason + "\n" + msg)}
}

type msgService struct {
	p     *Peer
	proto protocol.ID
	mu    sync.Mutex
	seen  map[string]uint64 // sender+nonce -> expiry (replay cache)
	stats sync.Map          // verdict -> *atomic.Int64
}

func newMsgService(p *Peer, proto string) *msgService {
	s := &msgService{p: p, proto: protocol.ID(proto), seen: map[string]uint64{}}
	p.h.SetStreamHandler(s.proto, s.serve)
	return s
}

func (s *msgService) count(verdict string) {
	v, _ := s.stats.LoadOrStore(verdict, &atomic.Int64{})
	v.(*atomic.Int64).Add(1)
}

func (s *msgService) fresh(e *Envelope) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := uint64(time.Now().UnixMilli())
	if len(s.seen) > 100_000 {
		for k, exp := range s.seen {
			if exp < now {
				delete(s.seen, k)
			}
		}
	}
	k := string(e.Sender) + "/" + string(e.Nonce)
	if _, dup := s.seen[k]; dup {
		return false
	}
	s.seen[k] = e.Expiry
	return true
}

// serve answers each message frame in arrival order on the same stream.
func (s *msgService) serve(st network.Stream) {
	defer st.Close()
	remote := st.Conn().RemotePeer()
	r := bufio.NewReader(st)
	w := bufio.NewWriter(st)
	for {
		f, err := readFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				st.Reset()
			}
			return
		}
		var reply frame
		switch {
		case f.kind == 0:
			continue
		case f.kind != kindMessage || len(f.rest) < 1:
			reply = nack(f.id, "undecodable", "unexpected frame")
		default:
			reply = s.handle(f, remote)
		}
		if err := writeFrame(w, reply); err != nil {
			return
		}
		// flush when no further request is already buffered (batches pipelined requests)
		if r.Buffered() < 4 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func (s *msgService) handle(f frame, remote peer.ID) frame {
	want := f.rest[0]&flagWantResp != 0
	e, err := decodeEnvelope(f.rest[1:])
	if err != nil {
		s.count("undecodable")
		return nack(f.id, "undecodable", err.Error())
	}
	if v := e.check(remote, "", time.Now()); v != "valid" {
		s.count(v)
		return nack(f.id, v, "refused by the go peer")
	}
	if !s.fresh(e) {
		s.count("replayed")
		return nack(f.id, "replayed", "nonce seen before")
	}
	if e.Type != hashType {
		s.count("no-handler")
		return nack(f.id, "no-handler", e.Type)
	}
	s.count("valid")
	if !want {
		return frame{kind: kindAck, id: f.id}
	}
	sum := sha256.Sum256(e.Payload)
	return frame{kind: kindResponse, id: f.id, rest: sum[:]}
}

func (s *msgService) run(ctx context.Context, cmd string, args []string) (string, error) {
	switch cmd {
	case "msg-stats":
		parts := []string{}
		s.stats.Range(func(k, v any) bool {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
			return true
		})
		return strings.Join(parts, " "), nil
	case "req":
		// req <peer> <count> <in-flight>: `interop.hash` requests, each answer checked
		if len(args) < 3 {
			return "", errors.New("req needs peer, count and in-flight")
		}
		id, err := peer.Decode(args[0])
		if err != nil {
			return "", err
		}
		n, err1 := strconv.Atoi(args[1])
		k, err2 := strconv.Atoi(args[2])
		if err := errors.Join(err1, err2); err != nil {
			return "", err
		}
		return s.requests(ctx, id, n, k)
	case "send-forged":
		// send-forged <peer> <bad-sig|wrong-sender|expired|good>: one message, prints the answer
		if len(args) < 2 {
			return "", errors.New("send-forged needs peer and mode")
		}
		id, err := peer.Decode(args[0])
		if err != nil {
			return "", err
		}
		return s.forged(ctx, id, args[1])
	}
	return "", fmt.Errorf("unknown msg command %q", cmd)
}

type client struct {
	st      network.Stream
	wmu     sync.Mutex
	mu      sync.Mutex
	pending map[uint32]chan frame
	next    uint32
	done    chan struct{}
	err     error
}

func (s *msgService) dial(ctx context.Context, id peer.ID) (*client, error) {
	st, err := s.p.h.NewStream(ctx, id, s.proto)
	if err != nil {
		return nil, err
	}
	c := &client{st: st, pending: map[uint32]chan frame{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		r := bufio.NewReader(st)
		for {
			f, err := readFrame(r)
			if err != nil {
				c.err = err
				return
			}
			c.mu.Lock()
			ch := c.pending[f.id]
			delete(c.pending, f.id)
			c.mu.Unlock()
			if ch != nil {
				ch <- f
			}
		}
	}()
	return c, nil
}

func (c *client) call(ctx context.Context, envelope []byte, flags byte) (frame, error) {
	ch := make(chan frame, 1)
	c.mu.Lock()
	c.next++
	id := c.next
	c.pending[id] = ch
	c.mu.Unlock()
	c.wmu.Lock()
	err := writeFrame(c.st, frame{kind: kindMessage, id: id, rest: append([]byte{flags}, envelope...)})
	c.wmu.Unlock()
	if err != nil {
		return frame{}, err
	}
	select {
	case f := <-ch:
		return f, nil
	case <-c.done:
		return frame{}, fmt.Errorf("stream closed: %v", c.err)
	case <-ctx.Done():
		return frame{}, ctx.Err()
	}
}

func answerError(f frame) error {
	if f.kind == kindNack {
		reason, msg, _ := strings.Cut(string(f.rest), "\n")
		return fmt.Errorf("nack %s: %s", reason, msg)
	}
	return fmt.Errorf("unexpected frame kind %d", f.kind)
}

func (s *msgService) requests(ctx context.Context, id peer.ID, n, k int) (string, error) {
	c, err := s.dial(ctx, id)
	if err != nil {
		return "", err
	}
	defer c.st.Close()
	start := time.Now()
	sem := make(chan struct{}, k)
	var wg sync.WaitGroup
	var ok atomic.Int64
	var firstErr atomic.Value
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			payload := make([]byte, 1+i%1024)
			rand.Read(payload)
			env, err := signEnvelope(s.p.priv, Envelope{Type: hashType, Payload: payload})
			if err == nil {
				var f frame
				if f, err = c.call(ctx, env, flagWantResp); err == nil {
					sum := sha256.Sum256(payload)
					if f.kind != kindResponse {
						err = answerError(f)
					} else if string(f.rest) != string(sum[:]) {
						err = fmt.Errorf("request %d: wrong response", i)
					}
				}
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			ok.Add(1)
		}(i)
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return "", fmt.Errorf("%d of %d requests failed, first: %w", int64(n)-ok.Load(), n, e.(error))
	}
	return fmt.Sprintf("%d %d", ok.Load(), time.Since(start).Milliseconds()), nil
}

func (s *msgService) forged(ctx context.Context, id peer.ID, mode string) (string, error) {
	payload := []byte("forged by the go peer")
	e := Envelope{Type: hashType, Payload: payload}
	key := s.p.priv
	var env []byte
	var err error
	switch mode {
	case "good":
		env, err = signEnvelope(key, e)
	case "expired":
		e.Expiry = uint64(time.Now().Add(-time.Minute).UnixMilli())
		env, err = signEnvelope(key, e)
	case "bad-sig":
		if env, err = signEnvelope(key, e); err == nil {
			var d *Envelope
			if d, err = decodeEnvelope(env); err == nil {
				d.Payload = []byte("tampered after signing")
				env = d.encode()
			}
		}
	default:
		return "", fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return "", err
	}
	c, err := s.dial(ctx, id)
	if err != nil {
		return "", err
	}
	defer c.st.Close()
	f, err := c.call(ctx, env, flagWantResp)
	if err != nil {
		return "", err
	}
	if f.kind == kindNack {
		reason, _, _ := strings.Cut(string(f.rest), "\n")
		return "nack " + reason, nil
	}
	return fmt.Sprintf("kind %d", f.kind), nil
}
