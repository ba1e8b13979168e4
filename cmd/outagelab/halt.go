package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

var haltFlags struct {
	url       string
	token     string
	tokenFile string
	who       string
	timeout   time.Duration
}

var haltCmd = &cobra.Command{
	Use:   "halt",
	Short: "HALT a running game day: remove every fault and stop any scenario",
	Long: `Call POST /api/halt on a running game-day console (outagelab gameday prints
the exact command). The token comes from --token, --token-file, or the
OUTAGELAB_GAMEDAY_TOKEN environment variable.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		f := haltFlags
		tok := strings.TrimSpace(f.token)
		if tok == "" && f.tokenFile != "" {
			b, err := os.ReadFile(f.tokenFile)
			if err != nil {
				return withCode(2, fmt.Errorf("halt: --token-file: %w", err))
			}
			tok = strings.TrimSpace(string(b))
		}
		if tok == "" {
			tok = strings.TrimSpace(os.Getenv("OUTAGELAB_GAMEDAY_TOKEN"))
		}
		if tok == "" {
			return usageError("halt: no token: pass --token T or --token-file F (printed by `outagelab gameday`)")
		}
		if f.url == "" {
			return usageError("halt: --url is required (the console URL printed by `outagelab gameday`)")
		}
		u, err := url.Parse(f.url)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return usageError("halt: --url %q: want http://HOST:PORT/", f.url)
		}
		u.RawQuery, u.Fragment, u.Path = "", "", strings.TrimRight(u.Path, "/")+"/api/halt"
		ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
		defer cancel()
		return haltCall(ctx, cmd.OutOrStdout(), u.String(), tok, f.who)
	},
}

func init() {
	f := haltCmd.Flags()
	f.StringVar(&haltFlags.url, "url", "", "console URL, e.g. http://127.0.0.1:PORT/")
	f.StringVar(&haltFlags.token, "token", "", "console token")
	f.StringVar(&haltFlags.tokenFile, "token-file", "", "file holding the console token")
	f.StringVar(&haltFlags.who, "who", "", "your name, for the audit log (default: the token holder)")
	f.DurationVar(&haltFlags.timeout, "timeout", 10*time.Second, "give up after this long")
	rootCmd.AddCommand(haltCmd)
}

func haltCall(ctx context.Context, stdout io.Writer, endpoint, token, who string) error {
	who = strings.TrimSpace(who)
	if who == "" {
		who = "outagelab halt"
	}
	body, _ := json.Marshal(map[string]string{"who": who})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return withCode(2, fmt.Errorf("halt: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return withCode(2, fmt.Errorf("halt: %w (is the game day still running at that URL?)", err))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var rep struct {
		Removed         []string `json:"removed"`
		ScenarioStopped string   `json:"scenario_stopped"`
		ProxiesReset    bool     `json:"proxies_reset"`
		TookMs          float64  `json:"took_ms"`
		Error           string   `json:"error"`
	}
	_ = json.Unmarshal(b, &rep)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return withCode(2, fmt.Errorf("halt: the console refused the token (401): check --token/--token-file"))
	case resp.StatusCode >= 300 && rep.Removed == nil:
		msg := rep.Error
		if msg == "" {
			msg = strings.TrimSpace(string(b))
		}
		return withCode(2, fmt.Errorf("halt: %s: %s", resp.Status, msg))
	}
	fmt.Fprintf(stdout, "halted: %d fault(s) removed in %.0f ms", len(rep.Removed), rep.TookMs)
	if rep.ScenarioStopped != "" {
		fmt.Fprintf(stdout, "; scenario %s stopped", rep.ScenarioStopped)
	}
	if rep.ProxiesReset {
		fmt.Fprint(stdout, "; every proxy was reset")
	}
	fmt.Fprintln(stdout)
	if rep.Error != "" {
		return withCode(2, fmt.Errorf("halt: %s", rep.Error))
	}
	return nil
}
