// Two test-only protocols both sides implement: blob (stream N bytes, get their SHA-256 back)
// and echo (the responder writes back what it reads).
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

const (
	blobProto protocol.ID = "/dmsnet-interop/blob/1.0.0"
	echoProto protocol.ID = "/dmsnet-interop/echo/1.0.0"
)

func registerTestProtocols(h host.Host) {
	// blob: read to EOF, answer the 32-byte SHA-256 of everything read, close
	h.SetStreamHandler(blobProto, func(s network.Stream) {
		defer s.Close()
		hash := sha256.New()
		if _, err := io.Copy(hash, s); err != nil {
			s.Reset()
			return
		}
		s.Write(hash.Sum(nil))
	})
	h.SetStreamHandler(echoProto, func(s network.Stream) {
		defer s.Close()
		if _, err := io.Copy(s, s); err != nil {
			s.Reset()
		}
	})
}

// blob streams n random bytes to the peer and prints the local and remote hashes and the time.
func (p *Peer) blob(ctx context.Context, who, size string) (string, error) {
	id, err := peer.Decode(who)
	if err != nil {
		return "", err
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil {
		return "", err
	}
	s, err := p.h.NewStream(ctx, id, blobProto)
	if err != nil {
		return "", err
	}
	defer s.Close()
	start := time.Now()
	hash := sha256.New()
	buf := make([]byte, 256*1024)
	for left := n; left > 0; {
		chunk := buf
		if int64(len(chunk)) > left {
			chunk = chunk[:left]
		}
		rand.Read(chunk)
		hash.Write(chunk)
		if _, err := s.Write(chunk); err != nil {
			s.Reset()
			return "", fmt.Errorf("write after %d bytes: %w", n-left, err)
		}
		left -= int64(len(chunk))
	}
	if err := s.CloseWrite(); err != nil {
		return "", err
	}
	remote := make([]byte, 32)
	if _, err := io.ReadFull(s, remote); err != nil {
		return "", fmt.Errorf("reading the remote hash: %w", err)
	}
	ms := time.Since(start).Milliseconds()
	return fmt.Sprintf("%s %s %d", hex.EncodeToString(hash.Sum(nil)), hex.EncodeToString(remote), ms), nil
}

// echo opens `streams` streams at once, sends `size` random bytes on each and checks the echo.
func (p *Peer) echo(ctx context.Context, who, streams, size string) (string, error) {
	id, err := peer.Decode(who)
	if err != nil {
		return "", err
	}
	k, err1 := strconv.Atoi(streams)
	n, err2 := strconv.Atoi(size)
	if err := errors.Join(err1, err2); err != nil {
		return "", err
	}
	var wg sync.WaitGroup
	errs := make([]error, k)
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = p.echoOne(ctx, id, n)
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, e := range errs {
		if e == nil {
			ok++
		}
	}
	if ok != k {
		return "", fmt.Errorf("%d of %d streams failed, first: %w", k-ok, k, errors.Join(errs...))
	}
	return strconv.Itoa(ok), nil
}

func (p *Peer) echoOne(ctx context.Context, id peer.ID, n int) error {
	s, err := p.h.NewStream(ctx, id, echoProto)
	if err != nil {
		return err
	}
	defer s.Close()
	data := make([]byte, n)
	rand.Read(data)
	werr := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		if err == nil {
			err = s.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	if string(got) != string(data) {
		return fmt.Errorf("echo differs: sent %d bytes, got %d", len(data), len(got))
	}
	return nil
}
