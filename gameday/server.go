package gameday

import (
	"bytes"
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/outagelab/outagelab/scenarios"
)

//go:embed console.html
var consolePage []byte

// CookieName is the HttpOnly, SameSite=Strict cookie the page keeps instead
// of the token (it holds a per-console session value, not the token).
const CookieName = "outagelab_gameday"

// maxBody bounds every request body.
const maxBody = 64 << 10

// Handler serves the console page and its API:
//
//	GET    /                       the console (?token=T once: sets the cookie, redirects to /)
//	GET    /api/state              live state (JSON)
//	GET    /api/events             live state as server-sent events ("state"), at least every second
//	GET    /api/topology           components, edges, crossing terms
//	GET    /api/faults/kinds       the harness fault registry (kinds, scopes, default params)
//	GET    /api/faults             active faults
//	POST   /api/faults             apply: {"kind","selector","params","duration","who"}
//	DELETE /api/faults/{id}        remove one active fault
//	POST   /api/halt               remove every fault, stop any scenario
//	GET    /api/scenarios          the scenario library
//	POST   /api/scenario/{action}  play {"name","time_scale"} | pause | resume | skip
//	POST   /api/notes              {"text","role":"facilitator|observer","who"}
//	GET    /api/result             the result so far (canonical JSON)
//
// Every /api call needs "Authorization: Bearer <token>" or the page's
// cookie. POST and DELETE from another origin are refused (403), as are
// requests whose Host is not this console's when it listens on loopback
// (DNS rebinding).
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.page)
	mux.HandleFunc("GET /api/state", c.auth(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, c.State()) }))
	mux.HandleFunc("GET /api/events", c.auth(c.stream))
	mux.HandleFunc("GET /api/topology", c.auth(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, c.Topology()) }))
	mux.HandleFunc("GET /api/faults/kinds", c.auth(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, Kinds()) }))
	mux.HandleFunc("GET /api/faults", c.auth(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, c.State().Faults) }))
	mux.HandleFunc("POST /api/faults", c.auth(c.applyFault))
	mux.HandleFunc("DELETE /api/faults/{id...}", c.auth(c.removeFault))
	mux.HandleFunc("POST /api/halt", c.auth(c.halt))
	mux.HandleFunc("GET /api/scenarios", c.auth(c.listScenarios))
	mux.HandleFunc("POST /api/scenario/{action}", c.auth(c.scenario))
	mux.HandleFunc("POST /api/notes", c.auth(c.addNote))
	mux.HandleFunc("GET /api/result", c.auth(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, c.Result()) }))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.deny(r, http.StatusForbidden, "cross-origin request refused")
		writeError(w, http.StatusForbidden, "cross-origin request refused: state-changing calls must come from the console's own page or a non-browser client")
	}))
	return c.hostCheck(cop.Handler(securityHeaders(mux)))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// hostCheck refuses a loopback-looking console reached under another host
// name: a web page on the internet cannot rebind its name to 127.0.0.1 and
// read the console.
func (c *Console) hostCheck(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.Trim(host, "[]")
		ip := net.ParseIP(host)
		if host == "localhost" || ip != nil || c.allowedHost(host) {
			h.ServeHTTP(w, r)
			return
		}
		c.deny(r, http.StatusMisdirectedRequest, "unknown Host "+r.Host)
		writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not this console's: open it by IP address (e.g. http://127.0.0.1:PORT/)", r.Host))
	})
}

func (c *Console) allowedHost(h string) bool {
	for _, a := range c.opts.AllowedHosts {
		if strings.EqualFold(a, h) {
			return true
		}
	}
	return false
}

// holder returns the token holder's label when r is authenticated.
func (c *Console) authenticated(r *http.Request) bool {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(c.token)) == 1
	}
	if ck, err := r.Cookie(CookieName); err == nil {
		return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.session)) == 1
	}
	return false
}

func (c *Console) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !c.authenticated(r) {
			c.deny(r, http.StatusUnauthorized, "missing or wrong token")
			w.Header().Set("WWW-Authenticate", `Bearer realm="outagelab gameday"`)
			writeError(w, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer <token> (printed by `outagelab gameday` as token: ...)")
			return
		}
		h(w, r)
	}
}

// deny records a refused state-changing request in the audit log.
func (c *Console) deny(r *http.Request, status int, why string) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return // reads are refused without a record: nothing happened
	}
	c.record(AuditEntry{Who: "unknown", Holder: "none", Action: "denied", OK: false, Error: why, Remote: r.RemoteAddr,
		Message: fmt.Sprintf("refused %s %s (%d)", r.Method, r.URL.Path, status)})
}

func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("token"); tok != "" {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(c.token)) != 1 {
			writeError(w, http.StatusUnauthorized, "wrong token")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: c.session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/", http.StatusSeeOther) // keep the token out of the address bar and history
		return
	}
	if !c.authenticated(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "Outage Lab game day: open the URL printed by `outagelab gameday` (it ends with ?token=...).\n")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	_, _ = w.Write(consolePage)
}

func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	fl.Flush()
	ch, cancel := c.hub.subscribe()
	defer cancel()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case b, ok := <-ch:
			if !ok {
				fmt.Fprint(w, "event: end\ndata: {}\n\n")
				fl.Flush()
				return
			}
			if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", b); err != nil {
				return
			}
			fl.Flush()
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// decode reads a JSON body strictly; an empty body leaves v as is.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("body larger than %d bytes", maxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return fmt.Errorf("content type %q: send application/json", ct)
		}
	}
	return DecodeJSON(body, v)
}

// DecodeJSON decodes one JSON value strictly: unknown fields and trailing
// data are errors.
func DecodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	if dec.More() {
		return errors.New("bad JSON: more than one value")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return errors.New("bad JSON: trailing data after the value")
	}
	return nil
}

func (c *Console) applyFault(w http.ResponseWriter, r *http.Request) {
	var req FaultRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Who == "" {
		req.Who = r.Header.Get("X-Outagelab-Who")
	}
	v, err := c.ApplyFault(r.Context(), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (c *Console) removeFault(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Who string `json:"who"`
	}
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Who == "" {
		req.Who = r.Header.Get("X-Outagelab-Who")
	}
	id := r.PathValue("id")
	if err := c.RemoveFault(r.Context(), req.Who, id); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": id})
}

func (c *Console) halt(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Who string `json:"who"`
	}
	if err := decode(r, &req); err != nil {
		// HALT must work even with a malformed body: act first, then say so.
		req.Who = ""
	}
	if req.Who == "" {
		req.Who = r.Header.Get("X-Outagelab-Who")
	}
	rep, err := c.Halt(r.Context(), req.Who)
	status := http.StatusOK
	if err != nil {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, rep)
}

// ScenarioInfo is one library entry for the play picker.
type ScenarioInfo struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Date   string `json:"date,omitempty"`
	Phases int    `json:"phases"`
	// WallMs is the phases' wall duration at the scenario's time scale.
	WallMs int64 `json:"wall_ms"`
	// Fits is false when a fault's selector matches nothing in this topology.
	Fits bool   `json:"fits"`
	Why  string `json:"why,omitempty"`
}

func (c *Console) listScenarios(w http.ResponseWriter, r *http.Request) {
	out := []ScenarioInfo{}
	for _, n := range scenarios.LibraryNames() {
		s, err := scenarios.LoadLibrary(n)
		if err != nil {
			out = append(out, ScenarioInfo{Name: n, Why: err.Error()})
			continue
		}
		si := ScenarioInfo{Name: n, Title: s.Title, Date: s.Date, Phases: len(s.Phases), WallMs: s.WallDuration(c.opts.TimeScale).Milliseconds(), Fits: true}
		if err := c.fits(s); err != nil {
			si.Fits, si.Why = false, err.Error()
		}
		out = append(out, si)
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Console) scenario(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	var req PlayRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Who == "" {
		req.Who = r.Header.Get("X-Outagelab-Who")
	}
	var v *ScenarioView
	var err error
	switch action {
	case "play":
		v, err = c.Play(r.Context(), req)
	case "pause", "resume", "skip":
		if req.Name != "" || req.TimeScale != 0 {
			writeError(w, http.StatusBadRequest, action+" takes no name or time_scale: it acts on the playing scenario")
			return
		}
		v, err = c.ScenarioControl(action, req.Who)
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown scenario action %q: want play, pause, resume or skip", action))
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (c *Console) addNote(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Text string `json:"text"`
		Role string `json:"role"`
		Who  string `json:"who"`
	}
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Who == "" {
		req.Who = r.Header.Get("X-Outagelab-Who")
	}
	n, err := c.AddNote(req.Who, req.Role, req.Text)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, n)
}

func writeErr(w http.ResponseWriter, err error) {
	var re *RequestError
	var nf *NotFoundError
	var ce *ConflictError
	switch {
	case errors.As(err, &re):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &nf):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.As(err, &ce), errors.Is(err, ErrFinished):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
