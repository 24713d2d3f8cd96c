// gossipsub (strict signing unless -pubsub-sign=false) carrying dmsnet envelopes.
package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
)

type pubsubService struct {
	p      *Peer
	ps     *pubsub.PubSub
	mu     sync.Mutex
	topics map[string]*pubsub.Topic
}

func newPubsub(ctx context.Context, p *Peer, sign bool) (*pubsubService, error) {
	policy := pubsub.StrictSign
	if !sign {
		// author and seqno but no signature: what a careless or hostile peer would send
		policy = pubsub.LaxNoSign
	}
	ps, err := pubsub.NewGossipSub(ctx, p.h, pubsub.WithMessageSignaturePolicy(policy), pubsub.WithFloodPublish(true))
	if err != nil {
		return nil, err
	}
	return &pubsubService{p: p, ps: ps, topics: map[string]*pubsub.Topic{}}, nil
}

func (s *pubsubService) topic(name string) (*pubsub.Topic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.topics[name]; ok {
		return t, nil
	}
	t, err := s.ps.Join(name)
	if err != nil {
		return nil, err
	}
	s.topics[name] = t
	return t, nil
}

func (s *pubsubService) run(ctx context.Context, cmd string, args []string) (string, error) {
	if len(args) < 1 {
		return "", fmt.Errorf("%s needs a topic", cmd)
	}
	t, err := s.topic(args[0])
	if err != nil {
		return "", err
	}
	switch cmd {
	case "sub":
		sub, err := t.Subscribe()
		if err != nil {
			return "", err
		}
		go s.deliver(args[0], sub)
		return "", nil
	case "topic-peers":
		ids := []string{}
		for _, id := range t.ListPeers() {
			ids = append(ids, id.String())
		}
		sort.Strings(ids)
		return strings.Join(ids, " "), nil
	case "pub":
		// pub <topic> <type> <hex payload> [good|bad-sig|wrong-sender|wrong-topic|not-envelope]
		if len(args) < 3 {
			return "", fmt.Errorf("pub needs topic, type and hex payload")
		}
		payload, err := hex.DecodeString(args[2])
		if err != nil {
			return "", err
		}
		mode := "good"
		if len(args) > 3 {
			mode = args[3]
		}
		data, err := s.forge(args[0], args[1], payload, mode)
		if err != nil {
			return "", err
		}
		return "", t.Publish(ctx, data)
	}
	return "", fmt.Errorf("unknown pubsub command %q", cmd)
}

// forge builds the gossip payload: a good envelope signed by us, or one broken on purpose.
func (s *pubsubService) forge(topic, typ string, payload []byte, mode string) ([]byte, error) {
	env := Envelope{Type: typ, Payload: payload, Topic: topic, HasTopic: true, Expiry: uint64(time.Now().Add(time.Minute).UnixMilli())}
	key := s.p.priv
	switch mode {
	case "good":
	case "bad-sig":
		b, err := signEnvelope(key, env)
		if err != nil {
			return nil, err
		}
		e, err := decodeEnvelope(b)
		if err != nil {
			return nil, err
		}
		e.Payload = append([]byte("tampered:"), e.Payload...)
		return e.encode(), nil
	case "wrong-sender":
		// a valid envelope of another identity, published under ours
		other, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, err
		}
		key = other
	case "wrong-topic":
		env.Topic = topic + "-other"
	case "not-envelope":
		return payload, nil
	default:
		return nil, fmt.Errorf("unknown pub mode %q", mode)
	}
	return signEnvelope(key, env)
}

func (s *pubsubService) deliver(topic string, sub *pubsub.Subscription) {
	for {
		m, err := sub.Next(context.Background())
		if err != nil {
			return
		}
		if m.ReceivedFrom == s.p.h.ID() {
			continue
		}
		verdict, typ, payload := "valid", "-", []byte{}
		e, err := decodeEnvelope(m.Data)
		if err != nil {
			verdict = "undecodable"
		} else {
			typ, payload = e.Type, e.Payload
			verdict = e.check(m.GetFrom(), topic, time.Now())
		}
		s.p.out.printf("! msg %s %s %s %s %s", topic, m.GetFrom(), verdict, typ, hex.EncodeToString(payload))
	}
}
