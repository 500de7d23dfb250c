package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/prefsd/prefsd/config"
)

// The completion scripts are generated from the command table and from
// each command's own -h output, so they list exactly the commands, verbs
// and flags prefsd has.

// completionVerbs returns the verbs of `prefsd completion`: one per shell.
func completionVerbs() []verb {
	shell := func(write func(io.Writer, []compCommand, []compFlag)) runFunc {
		return func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			if len(args) > 0 {
				if isHelpFlag(args[0]) {
					fmt.Fprintln(stderr, "usage: prefsd completion bash|zsh|fish")
					return flag.ErrHelp
				}
				return usagef("completion: unexpected argument %q", args[0])
			}
			cmds := completionSpec(ctx, getenv)
			write(stdout, cmds, nodeFlags())
			return nil
		}
	}
	return []verb{
		{"bash", "bash: source <(prefsd completion bash)", shell(writeBash)},
		{"zsh", "zsh: source <(prefsd completion zsh), or save as _prefsd in $fpath", shell(writeZsh)},
		{"fish", "fish: prefsd completion fish | source", shell(writeFish)},
	}
}

// compCommand is a command as completion sees it.
type compCommand struct {
	name, summary string
	flags         []compFlag
	verbs         []compVerb
}

type compVerb struct {
	name, summary string
	flags         []compFlag
}

type compFlag struct {
	name, help string
}

// completionSpec collects every command's verbs and flags.
func completionSpec(ctx context.Context, getenv func(string) string) []compCommand {
	var out []compCommand
	for _, c := range commands() {
		cc := compCommand{name: c.name, summary: c.summary}
		if c.verbs == nil {
			cc.flags = flagsOf(ctx, c.run, getenv)
		} else {
			for _, v := range c.verbs() {
				cc.verbs = append(cc.verbs, compVerb{name: v.name, summary: v.summary, flags: flagsOf(ctx, v.run, getenv)})
			}
		}
		out = append(out, cc)
	}
	return out
}

// flagsOf runs a command with -h and reads its flags from what it prints.
func flagsOf(ctx context.Context, run runFunc, getenv func(string) string) []compFlag {
	// flagLine matches a flag in flag.PrintDefaults output, flagHelp the
	// help line under it, and flagBracket a flag in a usage synopsis.
	flagLine := regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9-]*)`)
	flagHelp := regexp.MustCompile(`^    \t(.*)`)
	flagBracket := regexp.MustCompile(`\[--([A-Za-z0-9][A-Za-z0-9-]*)`)
	var out bytes.Buffer
	_ = run(ctx, []string{"-h"}, getenv, &out, &out)
	var flags []compFlag
	seen := map[string]bool{}
	add := func(name, help string) {
		if !seen[name] {
			seen[name] = true
			flags = append(flags, compFlag{name: name, help: help})
		}
	}
	lines := strings.Split(out.String(), "\n")
	for i, l := range lines {
		if m := flagLine.FindStringSubmatch(l); m != nil {
			help := ""
			if i+1 < len(lines) {
				if h := flagHelp.FindStringSubmatch(lines[i+1]); h != nil {
					help = h[1]
				}
			}
			add(m[1], help)
			continue
		}
		for _, m := range flagBracket.FindAllStringSubmatch(l, -1) {
			add(m[1], "")
		}
	}
	return flags
}

// nodeFlags returns the flags of `prefsd [flags]`.
func nodeFlags() []compFlag {
	fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
	cfg := config.Default()
	cfg.RegisterFlags(fs)
	var out []compFlag
	fs.VisitAll(func(f *flag.Flag) { out = append(out, compFlag{name: f.Name, help: f.Usage}) })
	return out
}

func flagWords(flags []compFlag) string {
	words := make([]string, len(flags))
	for i, f := range flags {
		words[i] = "--" + f.name
	}
	return strings.Join(words, " ")
}

func writeBash(w io.Writer, cmds []compCommand, node []compFlag) {
	fmt.Fprint(w, `# bash completion for prefsd.
# Load it with: source <(prefsd completion bash)
_prefsd() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local cmd=${COMP_WORDS[1]} verb=${COMP_WORDS[2]}
    local words=""
    if [[ $COMP_CWORD -eq 1 && $cur != -* ]]; then
`)
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	fmt.Fprintf(w, "        words=%q\n", strings.Join(append(names, "help"), " "))
	fmt.Fprintf(w, "    elif [[ $COMP_CWORD -eq 1 || $cmd == -* ]]; then\n")
	fmt.Fprintf(w, "        [[ $cur == -* ]] && words=%q\n", flagWords(node))
	fmt.Fprintf(w, "    else\n        case $cmd in\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "        %s)\n", c.name)
		if c.verbs == nil {
			fmt.Fprintf(w, "            [[ $cur == -* ]] && words=%q\n            ;;\n", flagWords(c.flags))
			continue
		}
		verbs := make([]string, len(c.verbs))
		for i, v := range c.verbs {
			verbs[i] = v.name
		}
		fmt.Fprintf(w, "            if [[ $COMP_CWORD -eq 2 ]]; then\n                words=%q\n            else\n                case $verb in\n", strings.Join(verbs, " "))
		for _, v := range c.verbs {
			fmt.Fprintf(w, "                %s) [[ $cur == -* ]] && words=%q ;;\n", v.name, flagWords(v.flags))
		}
		fmt.Fprint(w, "                esac\n            fi\n            ;;\n")
	}
	fmt.Fprint(w, `        help)
            [[ $COMP_CWORD -eq 2 ]] && words="`+strings.Join(names, " ")+`"
            ;;
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _prefsd prefsd
`)
}

// zshItem is one 'name:description' element of a zsh array, quoted.
func zshItem(name, desc string) string {
	s := strings.ReplaceAll(name, ":", `\:`) + ":" + firstLine(desc)
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func zshFlags(indent string, flags []compFlag) string {
	items := make([]string, len(flags))
	for i, f := range flags {
		items[i] = zshItem("--"+f.name, f.help)
	}
	return fmt.Sprintf("%sif [[ $PREFIX == -* ]]; then\n%s  items=(%s)\n%s  _describe -t flags 'flag' items\n%selse\n%s  _files\n%sfi\n",
		indent, indent, strings.Join(items, " "), indent, indent, indent, indent)
}

func writeZsh(w io.Writer, cmds []compCommand, node []compFlag) {
	fmt.Fprint(w, `#compdef prefsd
# zsh completion for prefsd.
# Load it with: source <(prefsd completion zsh), or save it as _prefsd in a
# directory of $fpath.
_prefsd() {
  local -a items
  if (( CURRENT == 2 )) && [[ $PREFIX != -* ]]; then
`)
	items := make([]string, 0, len(cmds)+1)
	for _, c := range cmds {
		items = append(items, zshItem(c.name, c.summary))
	}
	items = append(items, zshItem("help", "list the commands, or show one's flags"))
	fmt.Fprintf(w, "    items=(%s)\n    _describe -t commands 'prefsd command' items\n    return\n  fi\n", strings.Join(items, " "))
	fmt.Fprint(w, "  if (( CURRENT == 2 )) || [[ $words[2] == -* ]]; then\n")
	fmt.Fprint(w, zshFlags("    ", node))
	fmt.Fprint(w, "    return\n  fi\n  case $words[2] in\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "    %s)\n", c.name)
		if c.verbs == nil {
			fmt.Fprint(w, zshFlags("      ", c.flags))
			fmt.Fprint(w, "      ;;\n")
			continue
		}
		verbs := make([]string, len(c.verbs))
		for i, v := range c.verbs {
			verbs[i] = zshItem(v.name, v.summary)
		}
		fmt.Fprintf(w, "      if (( CURRENT == 3 )); then\n        items=(%s)\n        _describe -t verbs 'verb' items\n        return\n      fi\n      case $words[3] in\n", strings.Join(verbs, " "))
		for _, v := range c.verbs {
			fmt.Fprintf(w, "        %s)\n", v.name)
			fmt.Fprint(w, zshFlags("          ", v.flags))
			fmt.Fprint(w, "          ;;\n")
		}
		fmt.Fprint(w, "      esac\n      ;;\n")
	}
	fmt.Fprint(w, `  esac
}
if [[ $funcstack[1] == _prefsd ]]; then
  _prefsd "$@"
else
  compdef _prefsd prefsd
fi
`)
}

// fishQuote quotes s for fish.
func fishQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

func writeFish(w io.Writer, cmds []compCommand, node []compFlag) {
	fmt.Fprint(w, `# fish completion for prefsd.
# Load it with: prefsd completion fish | source, or save it as
# ~/.config/fish/completions/prefsd.fish.
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c prefsd -n __fish_use_subcommand -f -a %s -d %s\n", fishQuote(c.name), fishQuote(c.summary))
	}
	for _, f := range node {
		fmt.Fprintf(w, "complete -c prefsd -n __fish_use_subcommand -l %s -d %s\n", f.name, fishQuote(firstLine(f.help)))
	}
	for _, c := range cmds {
		seen := "__fish_seen_subcommand_from " + c.name
		if c.verbs == nil {
			for _, f := range c.flags {
				fmt.Fprintf(w, "complete -c prefsd -n %s -l %s -d %s\n", fishQuote(seen), f.name, fishQuote(firstLine(f.help)))
			}
			continue
		}
		names := make([]string, len(c.verbs))
		for i, v := range c.verbs {
			names[i] = v.name
		}
		noVerb := seen + "; and not __fish_seen_subcommand_from " + strings.Join(names, " ")
		for _, v := range c.verbs {
			fmt.Fprintf(w, "complete -c prefsd -n %s -f -a %s -d %s\n", fishQuote(noVerb), fishQuote(v.name), fishQuote(v.summary))
		}
		for _, v := range c.verbs {
			cond := seen + "; and __fish_seen_subcommand_from " + v.name
			for _, f := range v.flags {
				fmt.Fprintf(w, "complete -c prefsd -n %s -l %s -d %s\n", fishQuote(cond), f.name, fishQuote(firstLine(f.help)))
			}
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
