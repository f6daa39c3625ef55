--[[ 11_fashion_robustness.lua: standard training vs PGD adversarial training vs TRADES on Fashion-MNIST, evaluated
under FGSM, PGD-20 and MI-FGSM at eps 0.1 (L-inf, pixels in [0, 1]) with the per-sample worst case over the three,
the AutoAttack-style worst case over APGD-CE, APGD-DLR and Square, and a PGD-20 robustness curve over eps.
Run:  .build/release/lucerna run examples/11_fashion_robustness.lua                       (3 seeds, every method)
      .build/release/lucerna run examples/11_fashion_robustness.lua --seed 1 --set methods=pgd_at
Protocol: the benchmark CNN (`architecture` "cnn"; "small_cnn" is TRADES' deeper SmallCNN, which ignores the widths)
with fc1 widened to 512 (widths `conv1`, `conv2`, `hidden`; on seed 1, TRADES with 512
instead of 128 measured 77.75 % vs 77.25 % PGD-20 and 86.17 % vs 86.04 % clean for 15 % more time), stratified 20 %
validation split, AdamW + cosine over `epochs`
(30: at 15, TRADES stayed at 75 % PGD-20 on seed 1; at 30 it reached 77.5 %; with fc1 512, 78.1 % at 30 and
78.7 % at 60 for twice the time, docs/results.md). Standard training
selects the epoch on clean validation macro F1 (early stopping with patience `patience`); the adversarially trained
models on robust validation accuracy (PGD-10, step 0.025, random start, at eps on 1,000 evenly spaced validation
images; Rice et al. 2020), with patience `robust_patience` (10: at 5, the noise of 1,000 validation images stopped
TRADES on seed 1 at epoch 19 with 77.9 % robust validation accuracy, where seed 2, never stopped, reached 79.5 %
at epoch 28), the best epoch restored. FGSM, PGD-20 and MI-FGSM run on the test set's first `robust_limit` images
(10,000: all of them; the first 2,000 are easier — TRADES on seed 1: 77.25 % PGD-20 on them, 77.07 % on all), the
PGD-20 curve on the first `curve_limit`, the AutoAttack-style figure on the first `autoattack_limit`.
Training attacks (budget `train_eps`, 0.1 like the evaluation's `eps` unless set): PGD-AT (Madry et al.) with PGD
at `train_eps`, `train_steps` steps of `train_alpha`, random start;
TRADES (Zhang et al.) with beta `beta` (6) and the same budget, steps and step size (5 of 0.03; 10 of 0.02 measured
78.25 % vs 78.13 % PGD-20 on seed 1 for 1.5-1.7 times the time, docs/results.md). The AutoAttack-style figure: a sample
counts as robust only if APGD-CE (`apgd_steps` steps), APGD-DLR (`apgd_steps` steps) and Square (`square_queries`
queries) all fail on it (AutoAttack's standard version also uses the targeted variants; this is its untargeted
core). `ema` > 0 evaluates and keeps a moving average of the weights with that decay (0: none). `awp_gamma` > 0 adds
adversarial weight perturbation (Wu et al. 2020; the reference's 0.005 for TRADES, 0.01 for PGD-AT) from epoch
`awp_warmup` on (0: none). `flip` > 0 mirrors each training image left to right with that probability and `crop` > 0
pads it by that many pixels and crops it back to 28×28 at a random position (augmentations, both 0: none).
`activation` "silu", "gelu" or "softplus" gives the benchmark CNN smooth activations in place of ReLU (the same layers,
Xie et al. 2020's smooth adversarial training; "relu": models.cnn itself). ]]

local config = lucerna.config{seeds = {1, 2, 3}, epochs = 30, batch = 128, patience = 5, robust_patience = 10, eps = 0.1, train_eps = 0.1,
                              beta = 6, train_steps = 5, train_alpha = 0.03, ema = 0, awp_gamma = 0, awp_warmup = 0,
                              flip = 0, crop = 0, activation = "relu",
                              robust_limit = 10000, curve_limit = 2000, autoattack_limit = 1000, limit = 0, methods = "standard,pgd_at,trades",
                              apgd_steps = 100, square_queries = 1000, conv1 = 32, conv2 = 64, hidden = 512,
                              architecture = "cnn"}
lucerna.manual_seed(run.seed)
local images = data.fashion_mnist{split = "train", limit = config.limit > 0 and config.limit or nil}
local test = data.fashion_mnist{split = "test"}
local robust_test = data.fashion_mnist{split = "test", limit = config.robust_limit}
local curve_test = data.fashion_mnist{split = "test", limit = config.curve_limit}
local autoattack_test = data.fashion_mnist{split = "test", limit = config.autoattack_limit}

local augment = {}
if config.crop > 0 then augment[#augment + 1] = augmentations.random_crop{padding = config.crop} end
if config.flip > 0 then augment[#augment + 1] = augmentations.horizontal_flip{p = config.flip} end
local awp_gamma = config.awp_gamma > 0 and config.awp_gamma or nil
local awp_warmup = awp_gamma and config.awp_warmup or nil
local trainings = {
   standard = nil,
   pgd_at = {method = "pgd", attack = {type = "pgd", eps = config.train_eps, alpha = config.train_alpha, steps = config.train_steps, random_start = true},
             awp_gamma = awp_gamma, awp_warmup = awp_warmup},
   trades = {method = "trades", beta = config.beta, eps = config.train_eps, alpha = config.train_alpha, steps = config.train_steps,
             awp_gamma = awp_gamma, awp_warmup = awp_warmup},
}
local evaluation_attacks = {
   fgsm = {type = "fgsm", eps = config.eps},
   pgd20 = {type = "pgd", eps = config.eps, alpha = 0.01, steps = 20, random_start = true},
   mifgsm = {type = "mifgsm", eps = config.eps, alpha = 0.01, steps = 20},
}
-- TRADES' SmallCNN (its MNIST model, models/small_cnn.py): four 3×3 convolutions without padding (32, 32, 64, 64), a
-- 2×2 max pool after the second and the fourth, fc 1024 → 200 → 200 → 10 with dropout 0.5 after the first; its
-- initialisation: He-normal convolution weights (fan in) with zero biases, the last layer all zeros.
local function small_cnn()
   local function conv(inputs, outputs)
      local layer = nn.Conv2d(inputs, outputs, 3)
      local parameters = layer:named_parameters()
      nn.init.normal_(parameters.weight, 0, math.sqrt(2 / (inputs * 9)))
      nn.init.zeros_(parameters.bias)
      return layer
   end
   local last = nn.Linear(200, 10)
   for _, parameter in pairs(last:named_parameters()) do nn.init.zeros_(parameter) end
   return nn.Sequential{conv(1, 32), nn.ReLU(), conv(32, 32), nn.ReLU(), nn.MaxPool2d(2), conv(32, 64), nn.ReLU(),
                        conv(64, 64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 4 * 4, 200),
                        nn.ReLU(), nn.Dropout(0.5), nn.Linear(200, 200), nn.ReLU(), last}
end
-- The benchmark CNN's layers (models.cnn: conv 3x3 pad 1, activation, 2x2 max pool, twice; fc1, activation, fc2)
-- with a smooth activation in place of ReLU.
local smooth = {gelu = nn.GELU, softplus = nn.Softplus, silu = nn.SiLU}
local function smooth_cnn()
   local activation = smooth[config.activation]
   return nn.Sequential{nn.Conv2d(1, config.conv1, 3, {padding = 1}), activation(), nn.MaxPool2d(2),
                        nn.Conv2d(config.conv1, config.conv2, 3, {padding = 1}), activation(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(config.conv2 * 7 * 7, config.hidden), activation(),
                        nn.Linear(config.hidden, 10)}
end
assert(config.activation == "relu" or smooth[config.activation],
       "activation must be relu, silu, gelu or softplus, got " .. tostring(config.activation))
assert(config.architecture == "cnn" or config.architecture == "small_cnn",
       "architecture must be cnn or small_cnn, got " .. tostring(config.architecture))
for method in config.methods:gmatch("[^,]+") do
   assert(method == "standard" or trainings[method], "unknown method " .. method)
   local model = config.architecture == "small_cnn" and small_cnn()
                 or config.activation ~= "relu" and smooth_cnn()
                 or models.cnn{channels = {config.conv1, config.conv2}, hidden = config.hidden}
   local started = os.time()
   local adversarial = trainings[method] ~= nil
   local result = train{model = model, data = images, validation = 0.2, test = test, epochs = config.epochs, batch = config.batch,
                        early_stopping = {metric = adversarial and "val_robust_accuracy" or "val_f1",
                                          patience = adversarial and config.robust_patience or config.patience, mode = "max"},
                        robust_validation = adversarial and {attack = {type = "pgd", eps = config.eps, alpha = 0.025, steps = 10, random_start = true},
                                                             limit = 1000} or nil,
                        name = method, adversarial = trainings[method], augment = augment, ema = config.ema > 0 and config.ema or nil}
   local robust = evaluate{model = model, data = robust_test, name = method .. "_eps" .. tostring(config.eps):gsub("%.", "_"),
                           attacks = evaluation_attacks}
   local autoattack = evaluate{model = model, data = autoattack_test, name = method .. "_autoattack",
                               attacks = {apgd_ce = {type = "apgd_ce", eps = config.eps, steps = config.apgd_steps},
                                          apgd_dlr = {type = "apgd_dlr", eps = config.eps, steps = config.apgd_steps},
                                          square = {type = "square", eps = config.eps, queries = config.square_queries}}}
   local curve = evaluate{model = model, data = curve_test, name = method .. "_curve",
                          attacks = {pgd20 = evaluation_attacks.pgd20}, epsilons = {0.0, 0.05, 0.1, 0.15, 0.2, 0.3}}
   run.log{phase = "robustness", method = method, seconds = os.time() - started}
   print(("%-9s clean test accuracy %.4f | on %d test images: clean %.4f, FGSM %.4f, PGD-20 %.4f, MI-FGSM %.4f, worst case %.4f, AutoAttack-style (%d images) %.4f | PGD-20 curve (%d images) %s"):format(
      method, result.test.accuracy, config.robust_limit, robust.clean_accuracy, robust.robust_accuracy.fgsm, robust.robust_accuracy.pgd20,
      robust.robust_accuracy.mifgsm, robust.worst_case_accuracy, config.autoattack_limit, autoattack.worst_case_accuracy, config.curve_limit,
      table.concat({curve.robust_accuracy["pgd20_eps0.0"], curve.robust_accuracy["pgd20_eps0.05"], curve.robust_accuracy["pgd20_eps0.1"],
                    curve.robust_accuracy["pgd20_eps0.15"], curve.robust_accuracy["pgd20_eps0.2"], curve.robust_accuracy["pgd20_eps0.3"]}, " ")))
   -- Adversarial examples and their perturbations, for the report.
   local shown, labels = robust_test.images:narrow(1, 1, 8), robust_test.labels:narrow(1, 1, 8)
   local adversarial = attacks(evaluation_attacks.pgd20):perturb(model, shown, labels)
   run.image(method .. "_pgd20_examples", tensor.cat({shown, adversarial}, 1), {columns = 8, range = {0, 1}})
   run.image(method .. "_pgd20_perturbations", (adversarial - shown) * 5 + 0.5, {columns = 8, range = {0, 1}})
end
