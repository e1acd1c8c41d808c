# bash completion for sessionarchiver and sessionarchiverfs
#
# Installed as $(DATADIR)/bash-completion/completions/sessionarchiver (and
# linked as sessionarchiverfs). Commands and options are read from the
# program's own --help texts, so they follow the installed version; session
# names come from `sessionarchiver status --json`, with the -c/--config,
# --store and --index options already typed on the line.

# The global options typed so far (they change which store is asked).
_sessionarchiver_globals()
{
	local i w
	_sa_globals=()
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		-c | --config | --store | --index)
			((i + 1 < cword)) && _sa_globals+=("$w" "${words[i + 1]}")
			((i++))
			;;
		--config=* | --store=* | --index=*)
			_sa_globals+=("$w")
			;;
		esac
	done
}

_sessionarchiver_sessions()
{
	local prog=$1
	_sessionarchiver_globals
	"$prog" "${_sa_globals[@]}" -q status --json 2>/dev/null |
		sed -n 's/^ *"session": "\(.*\)",\{0,1\}$/\1/p'
}

_sessionarchiver_commands()
{
	"$1" --help 2>/dev/null |
		sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

# Long and short options of the command's --help (or the global --help).
_sessionarchiver_options()
{
	local prog=$1 cmd=$2
	{
		if [[ $cmd ]]; then
			"$prog" "$cmd" --help 2>/dev/null
		fi
		"$prog" --help 2>/dev/null
	} | grep -o -- '\(^\|[ [,]\)--\?[a-zA-Z][a-zA-Z-]*' |
		sed 's/^[ [,]//' | grep '^-' | sort -u
}

_sessionarchiver()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi
	local prog=${words[0]} cmd='' i n_args=0

	# the value of an option taking one
	case $prev in
	-c | --config | --index)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--store)
		COMPREPLY=($(compgen -d -- "$cur"))
		return
		;;
	--set)
		COMPREPLY=($(compgen -W 'store. source. archive. session.
			window. jobs. mail. hooks. purge.' -- "$cur"))
		compopt -o nospace 2>/dev/null
		return
		;;
	--side)
		COMPREPLY=($(compgen -W 'source archive' -- "$cur"))
		return
		;;
	--category | --target | --threads | -o | --options)
		return
		;;
	esac

	# the command, and how many arguments it has so far
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-c | --config | --store | --index | --set | --category | \
			--target | --threads | --side | -o | --options)
			((i++))
			;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=${words[i]}
			else
				((n_args++))
			fi
			;;
		esac
	done

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_sessionarchiver_options "$prog" "$cmd")" -- "$cur"))
		return
	fi
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$(_sessionarchiver_commands "$prog")" -- "$cur"))
		return
	fi
	case $cmd in
	list | status | check | pause | resume | cancel | index | archive | \
		restore | verify)
		((n_args == 0)) &&
			COMPREPLY=($(compgen -W "$(_sessionarchiver_sessions "$prog")" -- "$cur"))
		;;
	plan)
		if ((n_args == 0)); then
			COMPREPLY=($(compgen -W 'archive' -- "$cur"))
		elif ((n_args == 1)); then
			COMPREPLY=($(compgen -W "$(_sessionarchiver_sessions "$prog")" -- "$cur"))
		fi
		;;
	purge)
		((n_args == 0)) &&
			COMPREPLY=($(compgen -W "$(_sessionarchiver_sessions "$prog")" -- "$cur"))
		;;
	init) ;;
	inspect)
		COMPREPLY=($(compgen -f -X '!*.mbz' -- "$cur") $(compgen -d -- "$cur"))
		;;
	mount)
		COMPREPLY=($(compgen -d -- "$cur"))
		;;
	esac
} &&
	complete -F _sessionarchiver sessionarchiver

_sessionarchiverfs()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	case $prev in
	-o)
		COMPREPLY=($(compgen -W 'index= config= rescan= allow_other' -- "$cur"))
		compopt -o nospace 2>/dev/null
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '-f -d -o -h --help -V --version' -- "$cur"))
	else
		COMPREPLY=($(compgen -d -- "$cur"))
	fi
} &&
	complete -F _sessionarchiverfs sessionarchiverfs
