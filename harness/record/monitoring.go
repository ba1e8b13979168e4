package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// MonitorView is what the in-band monitoring component said at one moment.
type MonitorView struct {
	Unhealthy []string // component names it reported not healthy, sorted
	Names     []string // every component it reported on, sorted
	Known     int      // len(Names)
}

// ParseMonitorStatus decodes the monitoring service's GET /status answer.
// It accepts the shapes a status page commonly has, so the recorder does not
// break when the service adds fields:
//
//	{"components":[{"name":"catalog","healthy":true}, {"name":"cart","status":"down"}]}
//	{"targets":{"catalog":{"up":true}, "cart":"down"}}
//	{"catalog":"ok","cart":false}
//
// A component counts as healthy when healthy/up/ok is true, or status/state is
// one of ok, up, healthy, pass, passing, ready, serving.
func ParseMonitorStatus(b []byte) (MonitorView, error) {
	var v MonitorView
	if len(b) > 4<<20 {
		return v, errors.New("monitoring status: larger than 4 MiB")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return v, fmt.Errorf("monitoring status: not a JSON object: %w", err)
	}
	var list json.RawMessage
	for _, k := range []string{"components", "targets", "checks", "services"} {
		if raw, ok := top[k]; ok {
			list = raw
			break
		}
	}
	var entries map[string]bool
	var err error
	if list != nil {
		entries, err = decodeEntries(list)
	} else {
		entries, err = decodeEntries(json.RawMessage(b))
	}
	if err != nil {
		return v, err
	}
	if len(entries) == 0 {
		return v, errors.New("monitoring status: no components in the answer")
	}
	for name, healthy := range entries {
		v.Known++
		v.Names = append(v.Names, name)
		if !healthy {
			v.Unhealthy = append(v.Unhealthy, name)
		}
	}
	sort.Strings(v.Unhealthy)
	sort.Strings(v.Names)
	return v, nil
}

func decodeEntries(raw json.RawMessage) (map[string]bool, error) {
	out := map[string]bool{}
	var arr []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &arr); err == nil {
		for _, e := range arr {
			var name string
			for _, k := range []string{"name", "component", "target", "id"} {
				if json.Unmarshal(e[k], &name) == nil && name != "" {
					break
				}
			}
			if name == "" {
				continue
			}
			h, ok := healthOf(e)
			if ok {
				out[name] = h
			}
		}
		return out, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("monitoring status: components are neither a list nor an object: %w", err)
	}
	for name, val := range obj {
		if h, ok := healthValue(val); ok {
			out[name] = h
			continue
		}
		var e map[string]json.RawMessage
		if json.Unmarshal(val, &e) == nil {
			if h, ok := healthOf(e); ok {
				out[name] = h
			}
		}
	}
	return out, nil
}

func healthOf(e map[string]json.RawMessage) (bool, bool) {
	for _, k := range []string{"healthy", "up", "ok", "status", "state", "health"} {
		if raw, ok := e[k]; ok {
			if h, ok := healthValue(raw); ok {
				return h, true
			}
		}
	}
	return false, false
}

func healthValue(raw json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(s) {
		case "ok", "up", "healthy", "pass", "passing", "ready", "serving", "green":
			return true, true
		case "":
			return false, false
		}
		return false, true
	}
	return false, false
}
