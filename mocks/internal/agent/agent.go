// Package agent is the SNMP engine of the simulator: a UDP server that
// decodes requests with gosnmp, answers GET, GETNEXT, GETBULK and SET from a
// device.Store for SNMP v1, v2c and v3 (USM), and marshals the responses
// with gosnmp. Common v1/v2c messages take a fast path (codec.go) that
// decodes and encodes them as gosnmp does without its allocations.
// Malformed or hostile packets are dropped, never fatal.
package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/mocks/internal/device"
)

// Config configures an Agent.
type Config struct {
	Store *device.Store
	// Users are the SNMPv3 USM users; none disables v3.
	Users []User
	// EngineID is the snmpEngineID; derived from Seed when empty.
	EngineID []byte
	// EngineBoots is snmpEngineBoots; it must grow from one start to the next or a captured
	// authenticated request replays after a restart. Zero means the Unix time of the start
	// (clockEngineBoots); NextEngineBoots keeps it in a file, as net-snmp does.
	EngineBoots uint32
	// ContextDefault names the device an SNMPv3 request with an empty
	// contextName reads.
	ContextDefault string
	// MaxMsgSize caps response size in bytes (default 65507, the largest
	// UDP payload over IPv4); v3 requests may ask for less.
	MaxMsgSize int
	// Seed seeds the default engine ID.
	Seed    uint64
	Metrics *Metrics
	Logger  *slog.Logger
}

// Agent answers SNMP requests for the devices of a store.
type Agent struct {
	cfg      Config
	engineID []byte
	users    map[string]*usmUser
	start    time.Time
	log      *slog.Logger
	stats    [statCount]atomic.Uint32
}

// New validates cfg and returns an Agent.
func New(cfg Config) (*Agent, error) {
	if cfg.Store == nil {
		return nil, errors.New("agent: no device store")
	}
	if cfg.MaxMsgSize == 0 {
		cfg.MaxMsgSize = 65507
	}
	if cfg.MaxMsgSize < 484 || cfg.MaxMsgSize > 65507 {
		return nil, fmt.Errorf("max message size %d: want 484-65507", cfg.MaxMsgSize)
	}
	if cfg.EngineBoots == 0 {
		cfg.EngineBoots = clockEngineBoots(time.Now())
	}
	if cfg.EngineBoots > maxEngineBoots {
		return nil, fmt.Errorf("engine boots %d: want at most %d", cfg.EngineBoots, maxEngineBoots)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg, engineID: cfg.EngineID, users: map[string]*usmUser{}, start: time.Now(), log: cfg.Logger}
	if len(a.engineID) == 0 {
		a.engineID = DefaultEngineID(cfg.Seed)
	}
	if len(a.engineID) < 5 || len(a.engineID) > 32 {
		return nil, fmt.Errorf("engine ID %x: want 5-32 bytes", a.engineID)
	}
	for _, u := range cfg.Users {
		if _, dup := a.users[u.Name]; dup {
			return nil, fmt.Errorf("v3 user %q defined twice", u.Name)
		}
		uu, err := newUSMUser(u, a.engineID)
		if err != nil {
			return nil, err
		}
		a.users[u.Name] = uu
	}
	return a, nil
}

// DefaultEngineID derives a stable engine ID from the seed: RFC 3411 format
// 3 (enterprise 8072, net-snmp's, then 8 octets).
func DefaultEngineID(seed uint64) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "wattson-snmpsim/%d", seed))
	return append([]byte{0x80, 0x00, 0x1f, 0x88, 0x04}, sum[:8]...)
}

// EngineBoots returns the agent's snmpEngineBoots.
func (a *Agent) EngineBoots() uint32 { return a.cfg.EngineBoots }

// EngineID returns the agent's snmpEngineID.
func (a *Agent) EngineID() []byte { return a.engineID }

// Serve answers requests on conn until ctx ends, then closes conn. One
// goroutine reads the socket and answers each request before reading the
// next: a socket admits one reader at a time anyway, and more readers only
// hand the socket's lock back and forth, waking a thread per packet.
func (a *Agent) Serve(ctx context.Context, conn *net.UDPConn) error {
	// A deep receive buffer rides out bursts (a scrape of 1,000 devices
	// at once) instead of dropping them; the kernel caps it at rmem_max.
	_ = conn.SetReadBuffer(8 << 20)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	err := a.readLoop(ctx, conn)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (a *Agent) readLoop(ctx context.Context, conn *net.UDPConn) error {
	w := a.newWorker()
	buf := make([]byte, 65536)
	for {
		n, addr, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil //nolint:nilerr // a closed socket is how Serve is stopped
			}
			return fmt.Errorf("read udp: %w", err)
		}
		resp, delay := w.safeHandle(buf[:n])
		if resp == nil {
			continue
		}
		if delay > 0 {
			resp = bytes.Clone(resp) // the worker reuses its buffer
			time.AfterFunc(delay, func() { a.send(conn, resp, addr) })
			continue
		}
		a.send(conn, resp, addr)
	}
}

func (a *Agent) send(conn *net.UDPConn, b []byte, addr netip.AddrPort) {
	if _, err := conn.WriteToUDPAddrPort(b, addr); err != nil && !errors.Is(err, net.ErrClosed) {
		a.log.Debug("send failed", "addr", addr, "err", err)
	}
}

// worker holds one reader's decoders and buffers. gosnmp's decoder keeps
// state in its GoSNMP value, so each reader has its own; the request,
// response and output buffers are reused from one message to the next, so
// a v1/v2c GET allocates nothing and a walk step little more than its OID
// name.
type worker struct {
	a     *Agent
	plain *gosnmp.GoSNMP
	v3    map[string]*gosnmp.GoSNMP

	req, resp gosnmp.SnmpPacket
	name, out []byte
	names     map[string]string // interned OID names of GET requests
}

func (a *Agent) newWorker() *worker {
	w := &worker{a: a, plain: &gosnmp.GoSNMP{Version: gosnmp.Version2c}, v3: map[string]*gosnmp.GoSNMP{}, names: map[string]string{}}
	for name, u := range a.users {
		// Version2c on the decoder object skips gosnmp's client-side v3
		// checks; the message's own version still selects v3 decoding, with
		// these security parameters (keys already localised to our engine).
		w.v3[name] = &gosnmp.GoSNMP{Version: gosnmp.Version2c, SecurityParameters: &gosnmp.UsmSecurityParameters{
			UserName:               u.Name,
			AuthoritativeEngineID:  string(a.engineID),
			AuthenticationProtocol: u.AuthProto,
			PrivacyProtocol:        u.PrivProto,
			SecretKey:              u.authKey,
			PrivacyKey:             u.privKey,
		}}
	}
	return w
}

// safeHandle is handle behind a recover: one bad packet must not stop the
// server, even if a decoder bug panics.
func (w *worker) safeHandle(msg []byte) (resp []byte, delay time.Duration) {
	defer func() {
		if r := recover(); r != nil {
			w.a.cfg.Metrics.drop("panic")
			w.a.log.Error("request handler panicked", "panic", r)
			resp, delay = nil, 0
		}
	}()
	return w.handle(msg)
}

// handle answers one message: the response bytes (nil to drop) and how
// long to hold them back.
func (w *worker) handle(msg []byte) ([]byte, time.Duration) {
	env, err := parseEnvelope(msg)
	if err != nil {
		w.a.cfg.Metrics.drop("malformed")
		return nil, 0
	}
	if env.v3 != nil {
		return w.handleV3(msg, env.v3)
	}
	dev, ok := w.a.cfg.Store.Get(string(env.community))
	if !ok {
		w.a.cfg.Metrics.drop("unknown_community")
		return nil, 0
	}
	req := &w.req
	var fast bool
	if w.name, fast = decodeRequest(msg, dev.Name, req, w.name, w.names); !fast {
		if req, err = w.plain.SnmpDecodePacket(msg); err != nil {
			w.a.cfg.Metrics.drop("malformed")
			return nil, 0
		}
	}
	limit := w.a.cfg.MaxMsgSize
	resp := &w.resp
	delay, ok := w.a.serve(req, resp, dev, limit-envelopeSize(req.Community))
	if !ok {
		return nil, 0
	}
	out, err := w.marshal(resp, limit)
	if err != nil {
		w.a.cfg.Metrics.drop("marshal")
		w.a.log.Error("marshal response", "device", dev.Name, "err", err)
		return nil, 0
	}
	return out, delay
}

// marshal encodes resp, in the worker's buffer when the fast path covers
// it, trimming GETBULK results should the size estimate ever fall short of
// the limit.
func (w *worker) marshal(resp *gosnmp.SnmpPacket, limit int) ([]byte, error) {
	for {
		out, ok := appendResponse(w.out, resp)
		w.out = out[:0]
		var err error
		if !ok {
			out, err = resp.MarshalMsg()
		}
		if err != nil || len(out) <= limit || len(resp.Variables) == 0 {
			return out, err
		}
		resp.Variables = resp.Variables[:len(resp.Variables)*9/10]
	}
}
