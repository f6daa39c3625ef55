--[[ examples/paper/model.lua: the paper's integrated classifier on multimodal MNIST (a handwritten digit and a spoken
recording of the same digit), its baselines and its ablations, from registered components only.
The full model (`variant = "full"`): an image CNN encoder and a 1-D temporal CNN over the log-mel frames, fused by
cross-modal attention (MulT-style, both directions), a linear head; trained with the paper's protocol (stratified
80/20 split, AdamW + cosine annealing, early stopping on validation macro F1, the best epoch restored) and three
additions, each switched off by an ablation:
  - explanation feedback: Grad-CAM++ of the image branch (`explanation_layer`, `encoders.image.relu2`, for the
    label) kept on the digit (`grad_cam_pp_penalty`, the soft Dice form against the pixels above 0.1) —
    `no_explanation`;
  - bias regularization: equalized odds across the speakers who recorded the digits (FairTorch's squared gaps of
    each speaker's mean predicted probability within each class) — `no_bias`;
  - adversarial training: PGD on the image (L∞, ε `train_eps`), half the data loss — `no_adversarial`.
With `generation_steps` > 0 (the full model's experiment), the conditional attention WGAN-GP is then trained on
the model's fused embedding (`embed`: both encoders and the fusion, before the head) through a copy of the model
that learns with the generator under an L1 reconstruction term, and each test pair's image is redrawn from its own
embedding: reconstruction SSIM and GAN-test accuracy (docs/guide/reproduce.md).
`no_cross_attention` is the full model with concatenation instead of cross-modal attention. The baselines train
without any addition: `image` (image only), `audio` (audio only), `concat`, `late` (late fusion, learned weights).
Measured on the test pairs: accuracy and macro F1; Grad-CAM++ IoU-XAI of the image branch against the digit's pixels
above 0.1 under the recorded rules (the box rule of CAM/Grad-CAM at 15 % of the maximum — `iou_xai_box` — and the top
20 % of pixels — `iou_xai_top20`), at `relu2` and at `relu1` (`iou_xai_box_relu1`, `iou_xai_top20_relu1`), on
`explained` test pairs; accuracy per speaker (worst speaker, largest gap);
robust accuracy under PGD-20 on the image (ε `attack_eps`, the audio held) on `attacked` test pairs.
Run:  .build/release/lucerna run examples/paper/model.lua --set variant=full      (3 seeds)
      --set quick=true: 12,000 training pairs, 3 epochs, 500 explained and attacked pairs (minutes a variant) ]]

local defaults = {
   seeds = {1, 2, 3}, variant = "full", quick = false, limit = 0, test_limit = 0, epochs = 10, patience = 3,
   batch = 64, dim = 64, heads = 4,
   explanation_weight = 0.3, explanation_layer = "encoders.image.relu2", bias_weight = 1, train_eps = 0.1,
   train_steps = 3, adversarial_mix = 0.5,
   attack_eps = 0.1, explained = 2000, attacked = 1000,
   -- The generator (off at 0 steps): the conditional attention WGAN-GP conditioned on the integrated model's fused
   -- embedding (both modalities), each test pair's image redrawn from its own embedding.
   generation_steps = 0, generation_batch = 64, generation_n_critic = 5, generation_lr = 2e-4, generation_ema = 0.999,
   generation_latent = 32, generator_channels = {64, 32}, critic_channels = {32, 64}, generation_attention = 7,
   generation_reconstruction = 100, generation_train_conditioner = true, generation_auditor_epochs = 2,
   generation_pairs = 0, generation_every_log = 100, generation_every_images = 500,
   -- Reveal-to-Revise inside the model (off at 0 rounds): a 4x4 square on `artifact_share` of class
   -- `artifact_class`'s training images (R2R's controlled artifact), then the loop on the trained model's image
   -- branch, each pair's recording held, against the test pairs with the square on every image.
   artifact_share = 0, artifact_class = 0, r2r_rounds = 0, r2r_corrector = "r_clarc",
   r2r_layer = "encoders.image.relu1", r2r_explainer = "lrp", r2r_explained = 0, r2r_evaluated = 1000,
}
local quick = {limit = 12000, test_limit = 2000, epochs = 3, explained = 500, attacked = 500}
local config = lucerna.config(defaults)
if config.quick then config = lucerna.config(lucerna.merge(defaults, quick)) end
lucerna.manual_seed(run.seed)

local variants = {
   full = {fusion = "cross_attention", explanation = true, bias = true, adversarial = true},
   no_cross_attention = {fusion = "concat", explanation = true, bias = true, adversarial = true},
   no_explanation = {fusion = "cross_attention", bias = true, adversarial = true},
   no_bias = {fusion = "cross_attention", explanation = true, adversarial = true},
   no_adversarial = {fusion = "cross_attention", explanation = true, bias = true},
   image = {modalities = {image = true}}, audio = {modalities = {audio = true}},
   concat = {fusion = "concat"}, late = {fusion = "late"},
}
local variant = variants[config.variant]
assert(variant, "variant must be one of full, no_cross_attention, no_explanation, no_bias, no_adversarial, image, audio, "
       .. "concat, late; got " .. tostring(config.variant))
local modalities = variant.modalities or {image = true, audio = true}

local function limit(value) return value > 0 and value or nil end
-- The digit's own pixels: the object mask the explanation penalty and IoU-XAI use (an artifact's square is not
-- the digit).
local function with_masks(set)
   set.object_masks = set.images:gt(0.1)
   if set.artifact_masks then set.object_masks = set.object_masks * (set.artifact_masks * -1 + 1) end
   return set
end
local artifact = config.artifact_share > 0 and {kind = "artifact", correlation = config.artifact_share, fraction = 0,
                                                target = config.artifact_class, size = 4, corner = "bottom_right",
                                                seed = run.seed} or nil
local train_set = with_masks(data.multimodal_mnist{split = "train", limit = limit(config.limit), bias = artifact})
local test_set = with_masks(data.multimodal_mnist{split = "test", limit = limit(config.test_limit)})
-- The test pairs with the square on every image (independent of the label).
local poisoned_set = artifact and with_masks(data.multimodal_mnist{split = "test", limit = limit(config.test_limit),
   bias = lucerna.merge(artifact, {test = "independent", fraction = 1})})

local fusions = {cross_attention = {type = "cross_attention", dim = config.dim, heads = config.heads}, concat = "concat",
                 late = {type = "late", weights = "learned"}}
local encoders = {}
if modalities.image then encoders.image = {type = "conv_encoder", channels = {16, 32}, dim = config.dim} end
if modalities.audio then
   encoders.audio = {type = "temporal_encoder", mels = 40, channels = {32, 32}, dim = config.dim}
end
local function integrated()
   return models.multimodal_classifier{encoders = encoders, fusion = variant.fusion and fusions[variant.fusion] or false,
                                       classes = 10}
end
local model = integrated()
local function inputs(batch)
   local given = {}
   if modalities.image then given.image = batch.images end
   if modalities.audio then given.audio = batch.spectrograms end
   return given
end

local regularizers = {}
if variant.explanation then
   regularizers[#regularizers + 1] = {type = "grad_cam_pp_penalty", weight = config.explanation_weight,
                                      layer = config.explanation_layer, mask = "object_masks", invert = true,
                                      form = "dice"}
end
if variant.bias then
   regularizers[#regularizers + 1] = {type = "equalized_odds", weight = config.bias_weight}
end
local adversarial = variant.adversarial and {
   method = "pgd", mix = config.adversarial_mix,
   attack = {type = "pgd", eps = config.train_eps, alpha = config.train_eps / 2, steps = config.train_steps,
             random_start = true, clamp_min = 0, clamp_max = 1},
} or nil

local started = os.time()
local result = train{
   model = model, forward = function(batch) return model(inputs(batch)) end, data = train_set, validation = 0.2,
   test = test_set, epochs = config.epochs, batch = config.batch, groups = "speakers", inputs = "images",
   regularizers = regularizers, adversarial = adversarial,
   early_stopping = {metric = "val_f1", patience = config.patience, mode = "max"},
}
local seconds = os.time() - started

local summary = {phase = "summary", variant = config.variant, test_accuracy = result.test.accuracy,
                 test_f1 = result.test.f1, train_seconds = seconds}

-- Accuracy per speaker (the protected subgroups of the audio).
local audit = evaluate{model = model, forward = function(batch) return model(inputs(batch)) end, data = test_set,
                       groups = "speakers", name = "speakers", metrics = {worst = "worst_group_accuracy"}}
summary.worst_speaker_accuracy = audit.worst
local best = 0
for _, group in ipairs(audit.reports.worst.groups) do best = math.max(best, group.accuracy) end
summary.speaker_accuracy_gap = best - audit.worst

-- Rows start..start + count - 1 of every tensor of a data set (fewer at its end).
local function rows(set, start, count)
   count = math.min(count, set.labels:numel() - start + 1)
   local part = {}
   for name, tensor in pairs(set) do
      if type(tensor) == "userdata" then part[name] = tensor:narrow(1, start, count) end
   end
   return part
end

if modalities.image then
   -- IoU-XAI of the image branch's Grad-CAM++ (the label's map) under the two recorded rules, at the last block
   -- (`iou_xai_box`, `iou_xai_top20`: `encoders.image.relu2`, 14 × 14 upsampled, Grad-CAM's usual choice) and at
   -- the first (`..._relu1`: 28 × 28, where the map follows the strokes whatever the training).
   local explainer = explainers.grad_cam_pp{layer = "encoders.image.relu2"}
   local function rules(suffix)
      return {["iou_xai_box" .. suffix] = metrics.iou_xai{threshold = "box", relative = 0.15},
              ["iou_xai_top20" .. suffix] = metrics.iou_xai{threshold = "top_k", fraction = 0.2}}
   end
   local measured = {{explainer = explainer, rules = rules("")},
                     {explainer = explainers.grad_cam_pp{layer = "encoders.image.relu1"}, rules = rules("_relu1")}}
   local shown = rows(test_set, 1, config.explained)
   for start = 1, shown.labels:numel(), 500 do
      local part = rows(shown, start, 500)
      for _, layer in ipairs(measured) do
         local maps = layer.explainer:explain(model, inputs(part), part.labels).image
         for _, metric in pairs(layer.rules) do metric:update(maps, part.object_masks) end
      end
   end
   for _, layer in ipairs(measured) do
      for name, metric in pairs(layer.rules) do summary[name] = metric:compute() end
   end
   local overlay = rows(test_set, 1, 8)
   run.overlay("grad_cam_pp", overlay.images,
               {{"grad_cam_pp", explainer:explain(model, inputs(overlay), overlay.labels).image}})

   -- PGD-20 on the image, the audio held; robust = correct both clean and attacked.
   local attacked = rows(test_set, 1, config.attacked)
   local pgd = attacks.pgd{eps = config.attack_eps, alpha = config.attack_eps / 4, steps = 20, random_start = true,
                           clamp_min = 0, clamp_max = 1}
   local clean = inputs(attacked)
   local labels = attacked.labels:float()
   -- Predictions without recording a graph (the attack records its own).
   local function right(given) return no_grad(function() return (model(given):argmax(2) - 1):eq(labels):float() end) end
   local correct = right(clean)
   local perturbed = pgd:perturb(model, clean, attacked.labels, "image")
   summary.robust_accuracy_pgd20 = (correct * right(perturbed)):mean():item()
end

if config.r2r_rounds > 0 then
   assert(artifact and modalities.image, "r2r_rounds > 0 needs artifact_share > 0 and the image modality")
   -- Reveal-to-Revise on the image branch: SpRAy over the class's training explanations, a CAV at `r2r_layer`,
   -- the correction, then clean and poisoned accuracy, artifact relevance and TCAV, round by round.
   local fields = {image = "images", audio = modalities.audio and "spectrograms" or nil}
   local loop = reveal_to_revise{model = model, modality = "image", inputs = fields, layer = config.r2r_layer,
      data = train_set, test = test_set, poisoned = poisoned_set, class = config.artifact_class,
      rounds = config.r2r_rounds, corrector = config.r2r_corrector, explainer = config.r2r_explainer,
      explained = config.r2r_explained > 0 and config.r2r_explained or nil, evaluated = config.r2r_evaluated,
      cav = {method = "signal", pooling = "flat"}, masks = {kernel = 7, sigma = 1}, examples = 8}
   local first, last = loop.rounds[1], loop.final
   for _, name in ipairs({"clean_accuracy", "poisoned_accuracy", "artifact_relevance"}) do
      summary["r2r_" .. name .. "_before"], summary["r2r_" .. name .. "_after"] = first[name], last[name]
   end
   summary.r2r_poisoned_accuracy_gain = last.poisoned_accuracy - first.poisoned_accuracy
   summary.r2r_artifact_relevance_cut = loop.artifact_relevance_cut
   summary.r2r_rounds_kept = last.round
end

if config.generation_steps > 0 then
   assert(modalities.image and modalities.audio,
          "generation_steps > 0 needs the image and the audio (variant " .. config.variant .. ")")
   -- The conditional attention WGAN-GP on the integrated model's fused embedding: the conditioner is a copy of the
   -- trained model whose `embed` (encoders and fusion, before the head) conditions the generator; it learns with the
   -- generator under the L1 reconstruction term (`generation_train_conditioner`, as examples/20 found it needs to
   -- keep the digit's shape) or stays frozen (false). The critic projects on the pair's label.
   local conditioner = integrated()
   conditioner:load_state_dict(model:state_dict())
   local width = no_grad(function() return conditioner:embed(inputs(rows(test_set, 1, 1))) end):shape()[2]
   local attention = config.generation_attention > 0 and config.generation_attention or false
   local generator = models.cgan_generator{latent = config.generation_latent, channels = config.generator_channels,
                                           attention = attention and {resolution = attention} or false,
                                           conditioning = "fused", condition_dim = width}
   local critic = models.cgan_critic{channels = config.critic_channels, attention = attention}
   local trained = train_gan{
      name = "generation", generator = generator, critic = critic,
      data = {images = train_set.images, labels = train_set.labels, spectrograms = train_set.spectrograms},
      conditioner = {model = conditioner, inputs = {image = "images", audio = "spectrograms"},
                     train = config.generation_train_conditioner},
      reconstruction = config.generation_reconstruction, steps = config.generation_steps,
      batch = config.generation_batch, n_critic = config.generation_n_critic, ema = config.generation_ema,
      optimizer = {type = "adam", lr = config.generation_lr, betas = {0, 0.9}},
      every = {log = config.generation_every_log, images = config.generation_every_images}}
   run.save("generation_generator", generator)
   summary.generation_seconds = math.floor(trained.seconds + 0.5)

   -- Each test pair's image redrawn from its own fused embedding (the conditioner in evaluation mode): SSIM against
   -- the pair's real image, and GAN-test accuracy, an image-only CNN trained on the real training images naming
   -- the digit of each drawing against the pair's label.
   local pairs_count = config.generation_pairs > 0 and config.generation_pairs or test_set.labels:numel()
   local redrawn = rows(test_set, 1, pairs_count)
   conditioner:eval()
   local parts = {}
   no_grad(function()
      for start = 1, redrawn.labels:numel(), 500 do
         parts[#parts + 1] = conditioner:embed(inputs(rows(redrawn, start, 500)))
      end
   end)
   local fused = tensor.cat(parts, 1)
   local ssim = metrics.reconstruction_ssim{generator = generator, seed = run.seed}
   ssim:update(fused, redrawn.images)
   summary.generation_reconstruction_ssim = ssim:compute()
   local auditor = models.cnn{}
   train{name = "generation_auditor", model = auditor, data = {images = train_set.images, labels = train_set.labels},
         epochs = config.generation_auditor_epochs, batch = config.batch}
   summary.generation_auditor_accuracy = evaluate{model = auditor, name = "generation_auditor_test",
                                                  data = {images = redrawn.images, labels = redrawn.labels}}.accuracy
   local drawn = generate{generator = generator, conditions = fused, labels = redrawn.labels, seed = run.seed}
   local accuracy = metrics.gan_test_accuracy{classifier = auditor}
   accuracy:update(drawn.images, drawn.labels)
   summary.generation_gan_test_accuracy = accuracy:compute()
   local shown = math.min(16, redrawn.labels:numel())
   run.image("generation_real_then_redrawn",
             tensor.cat({redrawn.images:narrow(1, 1, shown), drawn.images:narrow(1, 1, shown)}, 1),
             {columns = shown, range = {0, 1}})
end

run.log(summary)
print(("%s: test accuracy %.4f, macro F1 %.4f, worst speaker %.4f; %d s of training"):format(config.variant,
      summary.test_accuracy, summary.test_f1, summary.worst_speaker_accuracy, seconds))
if summary.iou_xai_box then
   print(("Grad-CAM++ IoU-XAI: box rule %.4f, top 20 %% %.4f (relu1: %.4f, %.4f); PGD-20 on the image (eps %.2f) %.4f")
         :format(summary.iou_xai_box, summary.iou_xai_top20, summary.iou_xai_box_relu1, summary.iou_xai_top20_relu1,
                 config.attack_eps, summary.robust_accuracy_pgd20))
end
if summary.r2r_rounds_kept then
   print(("Reveal-to-Revise (%s, %d round(s) kept): poisoned accuracy %.4f -> %.4f, clean %.4f -> %.4f, artifact "
          .. "relevance %.4f -> %.4f"):format(config.r2r_corrector, summary.r2r_rounds_kept,
         summary.r2r_poisoned_accuracy_before, summary.r2r_poisoned_accuracy_after, summary.r2r_clean_accuracy_before,
         summary.r2r_clean_accuracy_after, summary.r2r_artifact_relevance_before, summary.r2r_artifact_relevance_after))
end
if summary.generation_reconstruction_ssim then
   print(("generation from the fused embedding: reconstruction SSIM %.4f, GAN-test accuracy %.4f (auditor on real "
          .. "images %.4f); %d steps in %d s"):format(summary.generation_reconstruction_ssim,
         summary.generation_gan_test_accuracy, summary.generation_auditor_accuracy, config.generation_steps,
         summary.generation_seconds))
end
return summary
