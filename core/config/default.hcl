# retool.hcl: the default retool configuration.
#
# `retool run retool.hcl` runs the job below. The same text is embedded in
# the retool binary (core/config/default.hcl) as the defaults that every
# other config file overrides. Relative paths are relative to this file.

log_level = "info" # trace | debug | info | warn | error

# plugin_dir defaults to $RETOOL_PLUGIN_DIR or <user config dir>/retool/plugins.

sandbox {
  backend         = "native" # native | none | containerd ("none": no isolation, tests only)
  work_dir_mb     = 64       # tmpfs size of the per-execution work dir
  read_only_paths = []       # extra host paths visible read-only, e.g. "/opt/julia"
  allow_network   = false

  # Used when backend = "containerd": each warm worker is a container (a
  # task) running the same fork-server driver; executions fork inside it.
  containerd {
    socket    = "/run/containerd/containerd.sock"
    namespace = "retool"
    runtime   = "io.containerd.runc.v2" # gVisor: "io.containerd.runsc.v1" (runsc registered in containerd's config)
    image     = ""                      # "": retool.local/host:2, built here (host /usr and /etc read-only); a runtime's settings.image overrides
    state_dir = "/run/retool/containerd"
  }
}

runtime "python" {
  # Warm workers: executions that sleep, stop or spin until their timeout
  # hold one each, so keep more than a few above the cores.
  pool_size = 8
  # An execution still running after demote_after ("100ms" unless set;
  # "off": never) gets a sixteenth of the CPU weight, so that under load
  # short executions keep the cores (settings = { demote_after = "1s" }).
  settings = { interpreter = "/usr/bin/python3" }

  limits {
    wall_time    = "10s"
    cpu_time     = "10s"
    memory_mb    = 512
    pids         = 64
    output_kb    = 1024
    file_size_mb = 16
    open_files   = 256
  }
}

runtime "sympy" {
  pool_size = 4
  settings  = { interpreter = "/usr/bin/python3" }

  limits {
    wall_time    = "10s"
    cpu_time     = "10s"
    memory_mb    = 512
    pids         = 64
    output_kb    = 1024
    file_size_mb = 16
    open_files   = 256
  }
}

# The train job: ReTool in miniature. A small Llama-style model (embedded,
# CPU) gets a cold start on code-integrated traces whose interpreter output
# comes from the sandbox, then RL with the real rollout engine and sandbox,
# and is evaluated on held-out problems; the text-only arm is the paper's
# baseline (text-only cold start, RL with the tools off). The run directory
# gets metrics.jsonl, checkpoints, sample trajectories and report.md with
# plots; a killed run resumes where it stopped.
#
# Other jobs: job "replay" { traces = "data/traces/tora70b_gsm8k_sample.jsonl" }
# re-executes recorded tool calls and compares their output.
job "train" {
  run_dir = "runs/retool"
  seeds   = 3
  arms    = ["retool", "text"]

  tasks {
    # Tool families (big products, modular powers, gcd/lcm, digit sums,
    # prime counts, binomials, bases, series), text families a small model
    # can answer in its head, and symbolic ones (roots, exact sums) where
    # the sympy runtime competes with plain Python. [] means all.
    families = ["mul", "modpow", "gcd", "lcm", "digitsum", "primes", "binom", "to-binary", "from-binary", "from-hex",
      "sum-k", "sum-k2", "sum-k3", "arith-series", "add", "sub", "max", "double",
      "quad-roots", "telescope", "harmonic"]
    cold_start       = 5000
    rl_pool          = 4000
    heldout          = 200 # unseen numbers
    heldout_phrasing = 100 # unseen numbers and phrasings
  }

  model {
    hidden       = 64
    layers       = 2
    heads        = 4
    intermediate = 176
    max_seq      = 256
  }

  cold_start {
    code       = 0.45 # share of traces that call a tool
    text       = 0.40 # answer in text (right for easy problems, a guess for hard ones)
    fix        = 0.15 # a failing block, then a fixed one
    sympy      = 0.5  # symbolic problems solved with the sympy runtime
    batch      = 16
    lr         = 0.001
    max_epochs = 22
    patience   = 3 # held-out evaluations (4 per epoch) without a 0.5% improvement
    # A curriculum: the first epochs see only the traces that call a tool,
    # so that copying numbers into code is learned before text guesses blur it.
    code_first_epochs = 16
  }

  rl {
    algorithm        = "grpo" # grpo | ppo
    tools            = ["python", "sympy"]
    steps            = 40
    prompts          = 16
    group            = 8
    lr               = 0.00005 # RL moves a converged cold start: far below its learning rate
    clip_low         = 0.2
    clip_high        = 0.28
    kl_coef          = 0
    # The paper samples at temperature 1.0; a model this small is far less
    # peaked than a 32B one, and at top-p 1 its copies of numbers fail so
    # often that RL learns to avoid the tool. Nucleus sampling as in the
    # evaluation keeps exploration without that noise.
    temperature      = 1.0
    top_p            = 0.7
    max_tool_calls   = 3
    max_tokens       = 192
    eval_every       = 20
    checkpoint_every = 5
  }

  eval {
    samples     = 2
    temperature = 1.0
    top_p       = 0.7
  }

  # make bench-train: the default job from scratch in its own directory.
  profile "bench" {
    run_dir = "runs/retool-bench"
  }

  # retool run retool.hcl --profile quick: the same pipeline, small enough
  # for CI (about two minutes).
  profile "quick" {
    run_dir = "runs/retool-quick"
    seeds   = 1

    tasks {
      families         = ["mul", "sum-k", "add", "sub", "max", "double"]
      cold_start       = 3000
      rl_pool          = 1000
      heldout          = 100
      heldout_phrasing = 50
    }
    cold_start {
      code              = 0.55 # fewer traces: more of them with code, for copying to be learned in time
      text              = 0.30
      max_epochs        = 14
      code_first_epochs = 12
    }
    rl {
      steps      = 35
      eval_every = 0
    }
    eval {
      samples = 4 # a steadier estimate on its 100 + 50 problems
    }
  }
}
