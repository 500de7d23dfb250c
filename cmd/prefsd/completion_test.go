package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBashCompletion loads the bash script into a real bash and asks it to
// complete command lines, as bash does on TAB.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash here")
	}
	res := prefsd(t, nil, "completion", "bash")
	if res.code != 0 {
		t.Fatalf("completion bash: %+v", res)
	}
	script := filepath.Join(t.TempDir(), "prefsd.bash")
	if err := os.WriteFile(script, []byte(res.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string // the words typed; the last one is being completed
		want []string
		not  []string
	}{
		{"prefsd sn", []string{"snapshot"}, nil},
		{"prefsd t", []string{"token", "transfer-leadership"}, []string{"status"}},
		{"prefsd ", []string{"status", "members", "join", "remove", "user", "quota", "catalog", "healthcheck", "completion", "help"}, nil},
		{"prefsd snapshot ", []string{"save", "restore", "inspect"}, nil},
		{"prefsd snapshot save --c", []string{"--consistency", "--ca-file"}, nil},
		{"prefsd snapshot restore --", []string{"--addr", "--token", "--json", "--timeout", "--quiet"}, []string{"--consistency"}},
		{"prefsd transfer-leadership --", []string{"--to", "--addr"}, nil},
		{"prefsd quota set --", []string{"--count", "--bytes", "--value-length", "--key-length"}, nil},
		{"prefsd user add --", []string{"--email", "--staff", "--superuser", "--password-file"}, nil},
		{"prefsd token create --n", []string{"--name"}, nil},
		{"prefsd healthcheck --", []string{"--addr", "--path", "--timeout", "--insecure"}, nil},
		{"prefsd completion ", []string{"bash", "zsh", "fish"}, nil},
		{"prefsd --data", []string{"--data-dir"}, nil},
		{"prefsd --node-id n1 --raft-", []string{"--raft-addr", "--raft-heartbeat-timeout"}, nil},
		{"prefsd help sta", []string{"status"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cmd := exec.Command(bash, "--norc", "--noprofile", "-c",
				`source "$1"; read -ra COMP_WORDS <<< "$2"; [[ $2 == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _prefsd; printf '%s\n' "${COMPREPLY[@]}"`,
				"bash", script, tt.line)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, out)
			}
			got := strings.Fields(string(out))
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("completions %v lack %q", got, w)
				}
			}
			for _, w := range tt.not {
				if slices.Contains(got, w) {
					t.Errorf("completions %v have %q", got, w)
				}
			}
		})
	}
}

// TestCompletionScripts checks the zsh and fish scripts name every
// command, verb and flag, and that each shell at hand parses its script.
func TestCompletionScripts(t *testing.T) {
	tests := []struct {
		shell string
		check []string // the shell's syntax check, run on the script file
		want  []string
	}{
		{"bash", []string{"bash", "-n"}, []string{"complete -o default -F _prefsd prefsd", "snapshot)", "--consistency"}},
		{"zsh", []string{"zsh", "-n"}, []string{"#compdef prefsd", "compdef _prefsd prefsd", "'transfer-leadership:hand leadership to another node'", "'--to:the node id to hand leadership to (default: raft picks)'", "'save:download a backup of the cluster'\\''s state to FILE'"}},
		{"fish", []string{"fish", "--no-execute"}, []string{"complete -c prefsd -n __fish_use_subcommand -f -a 'snapshot'", "-l consistency", "'__fish_seen_subcommand_from quota; and __fish_seen_subcommand_from set' -l count", "-l data-dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			res := prefsd(t, nil, "completion", tt.shell)
			if res.code != 0 {
				t.Fatalf("completion %s: %+v", tt.shell, res)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("the %s script lacks %q", tt.shell, w)
				}
			}
			for _, c := range commands() {
				if !strings.Contains(res.stdout, c.name) {
					t.Errorf("the %s script lacks the command %q", tt.shell, c.name)
				}
			}
			sh, err := exec.LookPath(tt.check[0])
			if err != nil {
				t.Logf("no %s here to parse the script", tt.check[0])
				return
			}
			file := filepath.Join(t.TempDir(), "prefsd."+tt.shell)
			if err := os.WriteFile(file, []byte(res.stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(sh, append(tt.check[1:], file)...).CombinedOutput(); err != nil {
				t.Fatalf("%s does not parse the script: %v\n%s", tt.shell, err, out)
			}
		})
	}
}
