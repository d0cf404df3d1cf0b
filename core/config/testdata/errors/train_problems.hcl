runtime "python" {}

job "train" {
  seeds = 0
  arms  = ["retool", "txt"]

  model {
    hidden = 60
    heads  = 8
  }
  rl {
    algorithm = "ppo2"
    tools     = ["python", "rust"]
    group     = 1
    clip_low  = 1.5
    lr        = "fast"
  }
  profile "quick" {
    seeds = 1
  }
}
