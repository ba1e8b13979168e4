package gameday

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// AuditEntry is one action on the console: who did what, when, and whether
// it worked. Every entry is also a Result event (Kind = Action, Actor = Who).
type AuditEntry struct {
	At     time.Time `json:"at"`
	Who    string    `json:"who"`    // the name given in the request, else the token holder's label
	Holder string    `json:"holder"` // the token holder's label (e.g. facilitator)
	Action string    `json:"action"` // fault_applied, fault_removed, fault_expired, halt, scenario_play, note, denied, ...
	// Message is the one-line human text (the Result event's message).
	Message string         `json:"message"`
	Detail  map[string]any `json:"detail,omitempty"`
	OK      bool           `json:"ok"`
	Error   string         `json:"error,omitempty"`
	Remote  string         `json:"remote,omitempty"`
}

// auditLog appends entries as JSON lines to a file (when one is open).
type auditLog struct {
	mu sync.Mutex
	f  *os.File
}

func openAudit(path string) (*auditLog, error) {
	if path == "" {
		return &auditLog{}, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return &auditLog{f: f}, nil
}

func (a *auditLog) write(e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return nil
}

func (a *auditLog) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
