// dmsnet's signed envelope, written from docs/protocols.md ("The envelope"): a CBOR array of
// nine items, signed with the sender's libp2p key over a domain tag and the first eight items.
// Only the CBOR this needs is implemented: unsigned ints, byte and text strings, arrays, null,
// always in the shortest ("preferred") form, which is what the signature input requires.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	envelopeVersion = 1
	envelopeDomain  = "dmsnet:msg:v1\x00"
	maxNameLength   = 256
	replayWindow    = 2 * time.Minute
)

type Envelope struct {
	Type       string
	Payload    []byte
	Sender     peer.ID
	Nonce      []byte
	Expiry     uint64
	ReplyTo    string
	HasReplyTo bool
	Topic      string
	HasTopic   bool
	Signature  []byte
}

func cborHead(b *bytes.Buffer, major byte, n uint64) {
	m := major << 5
	switch {
	case n < 24:
		b.WriteByte(m | byte(n))
	case n <= 0xff:
		b.WriteByte(m | 24)
		b.WriteByte(byte(n))
	case n <= 0xffff:
		b.WriteByte(m | 25)
		b.Write(binary.BigEndian.AppendUint16(nil, uint16(n)))
	case n <= 0xffffffff:
		b.WriteByte(m | 26)
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
	default:
		b.WriteByte(m | 27)
		b.Write(binary.BigEndian.AppendUint64(nil, n))
	}
}

func cborBytes(b *bytes.Buffer, v []byte) { cborHead(b, 2, uint64(len(v))); b.Write(v) }
func cborText(b *bytes.Buffer, v string)  { cborHead(b, 3, uint64(len(v))); b.WriteString(v) }
func cborOptText(b *bytes.Buffer, v string, has bool) {
	if has {
		cborText(b, v)
	} else {
		b.WriteByte(0xf6)
	}
}

// fields writes the array of the first eight items (n = 8) or all nine (n = 9).
func (e *Envelope) fields(n uint64) []byte {
	var b bytes.Buffer
	cborHead(&b, 4, n)
	cborHead(&b, 0, envelopeVersion)
	cborText(&b, e.Type)
	cborBytes(&b, e.Payload)
	cborBytes(&b, []byte(e.Sender))
	cborBytes(&b, e.Nonce)
	cborHead(&b, 0, e.Expiry)
	cborOptText(&b, e.ReplyTo, e.HasReplyTo)
	cborOptText(&b, e.Topic, e.HasTopic)
	if n == 9 {
		cborBytes(&b, e.Signature)
	}
	return b.Bytes()
}

func (e *Envelope) signedBytes() []byte { return append([]byte(envelopeDomain), e.fields(8)...) }
func (e *Envelope) encode() []byte      { return e.fields(9) }

// signEnvelope fills sender, nonce (if unset) and signature from key and encodes the envelope.
func signEnvelope(key crypto.PrivKey, e Envelope) ([]byte, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	e.Sender = id
	if e.Nonce == nil {
		e.Nonce = make([]byte, 16)
		rand.Read(e.Nonce)
	}
	if e.Expiry == 0 {
		e.Expiry = uint64(time.Now().Add(time.Minute).UnixMilli())
	}
	if e.Signature, err = key.Sign(e.signedBytes()); err != nil {
		return nil, err
	}
	return e.encode(), nil
}

type cborReader struct {
	b   []byte
	off int
}

var errCBOR = errors.New("bad CBOR")

func (r *cborReader) head() (major byte, n uint64, err error) {
	if r.off >= len(r.b) {
		return 0, 0, errCBOR
	}
	ib := r.b[r.off]
	r.off++
	major, info := ib>>5, ib&0x1f
	if major == 7 {
		return major, uint64(info), nil
	}
	size := map[byte]int{24: 1, 25: 2, 26: 4, 27: 8}[info]
	if info < 24 {
		return major, uint64(info), nil
	}
	if size == 0 || r.off+size > len(r.b) {
		return 0, 0, errCBOR // reserved or indefinite length: not allowed
	}
	for i := 0; i < size; i++ {
		n = n<<8 | uint64(r.b[r.off+i])
	}
	r.off += size
	// preferred serialisation only, as the sender's encoder produces
	if (size == 1 && n < 24) || (size == 2 && n <= 0xff) || (size == 4 && n <= 0xffff) || (size == 8 && n <= 0xffffffff) {
		return 0, 0, errCBOR
	}
	return major, n, nil
}

func (r *cborReader) uint() (uint64, error) {
	m, n, err := r.head()
	if err != nil || m != 0 {
		return 0, errCBOR
	}
	return n, nil
}

func (r *cborReader) str(major byte) ([]byte, error) {
	m, n, err := r.head()
	if err != nil || m != major || n > uint64(len(r.b)-r.off) {
		return nil, errCBOR
	}
	v := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return v, nil
}

// optText reads a text string or null.
func (r *cborReader) optText() (string, bool, error) {
	if r.off < len(r.b) && r.b[r.off] == 0xf6 {
		r.off++
		return "", false, nil
	}
	v, err := r.str(3)
	if err != nil || len(v) == 0 || len(v) > maxNameLength {
		return "", false, errCBOR
	}
	return string(v), true, nil
}

func decodeEnvelope(b []byte) (*Envelope, error) {
	r := &cborReader{b: b}
	m, n, err := r.head()
	if err != nil || m != 4 || n != 9 {
		return nil, errors.New("envelope is not a 9-element array")
	}
	e := &Envelope{}
	v, err := r.uint()
	if err != nil || v != envelopeVersion {
		return nil, fmt.Errorf("unsupported envelope version")
	}
	t, err := r.str(3)
	if err != nil || len(t) == 0 || len(t) > maxNameLength {
		return nil, errors.New("bad type")
	}
	e.Type = string(t)
	if e.Payload, err = r.str(2); err != nil {
		return nil, errors.New("bad payload")
	}
	s, err := r.str(2)
	if err != nil || len(s) > 128 {
		return nil, errors.New("bad sender")
	}
	if e.Sender, err = peer.IDFromBytes(s); err != nil {
		return nil, errors.New("sender is not a peer id")
	}
	if e.Nonce, err = r.str(2); err != nil || len(e.Nonce) < 8 || len(e.Nonce) > 64 {
		return nil, errors.New("bad nonce")
	}
	if e.Expiry, err = r.uint(); err != nil || e.Expiry > 1<<53-1 {
		return nil, errors.New("bad expiry")
	}
	if e.ReplyTo, e.HasReplyTo, err = r.optText(); err != nil {
		return nil, errors.New("bad reply-to")
	}
	if e.Topic, e.HasTopic, err = r.optText(); err != nil {
		return nil, errors.New("bad topic")
	}
	if e.Signature, err = r.str(2); err != nil || len(e.Signature) == 0 || len(e.Signature) > 1024 {
		return nil, errors.New("bad signature field")
	}
	if r.off != len(b) {
		return nil, errors.New("trailing bytes after the envelope")
	}
	return e, nil
}

// check returns "valid" or the dmsnet drop reason for an envelope received from `from`
// (the stream's remote peer, or the gossip message's signed author) on `topic` ("" = direct).
func (e *Envelope) check(from peer.ID, topic string, now time.Time) string {
	if e.Sender != from {
		return "wrong-sender"
	}
	if topic != "" && (!e.HasTopic || e.Topic != topic) {
		return "topic-mismatch"
	}
	ms := uint64(now.UnixMilli())
	if e.Expiry < ms {
		return "expired"
	}
	if e.Expiry > ms+uint64((replayWindow+30*time.Second).Milliseconds()) {
		return "expired"
	}
	pub, err := e.Sender.ExtractPublicKey()
	if err != nil {
		return "bad-signature"
	}
	ok, err := pub.Verify(e.signedBytes(), e.Signature)
	if err != nil || !ok {
		return "bad-signature"
	}
	return "valid"
}
