package faults

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeParams: any kind name and attribute JSON decodes to a valid
// Fault or a clear error, never a panic; an accepted value round-trips.
func FuzzDecodeParams(f *testing.F) {
	f.Add("latency", []byte(`{"latency":"800ms","jitter":100,"toxicity":0.5,"stream":"both"}`))
	f.Add("slicer", []byte(`{"average_size":10,"size_variation":1,"delay":"5us"}`))
	f.Add("http_error", []byte(`{"rate":0.1,"status":503,"routes":["/api/x"]}`))
	f.Add("partition", []byte(`{"mode":"refuse"}`))
	f.Add("nope", []byte(`{}`))
	f.Add("latency", []byte(`{"latency":1e309}`))
	f.Fuzz(func(t *testing.T, kind string, raw []byte) {
		p, err := DecodeParams(kind, raw)
		if err != nil {
			return
		}
		if verr := p.Validate(); verr != nil {
			t.Fatalf("DecodeParams accepted invalid params: %v", verr)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal accepted params: %v", err)
		}
		if _, err := DecodeParams(kind, b); err != nil {
			t.Fatalf("round trip of %s failed: %v", b, err)
		}
	})
}
