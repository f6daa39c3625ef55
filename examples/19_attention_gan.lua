--[[ 19_attention_gan.lua: the paper's conditional attention WGAN-GP on MNIST (or Fashion-MNIST), trained and
measured in one recipe.
An auditing CNN is trained on the real training images first (the paper's protocol: 80/20 split, AdamW, cosine);
then the generator and critic (self-attention at 14×14 in both, a projection critic, WGAN-GP with 5 critic steps,
Adam 1e-4 with β = (0, 0.9), a weight average) train for `steps` generator steps, with explanation feedback (the
auditor's Grad-CAM++ map of each generated sample kept on the sample's own foreground), bias feedback (the share of
thick-stroke samples — ink above the training median — kept at one half, and the auditor's per-class accuracy on
generated samples kept even) and image grids per class in the report. The averaged generator is then scored
(docs/guide/generation.md):
  - GAN-test accuracy: the auditing CNN on generated samples, against the classes they were drawn for, and the same
    by a judge: a second CNN trained after the GAN on the auditor's images, which the generator never saw (the
    bias feedback trains the generator toward the auditor's per-class accuracy, so the auditor's own figure is
    not an independent score when it is on; `judge` = false leaves it out);
  - GAN-train accuracy: a fresh CNN trained on generated samples only — as many as the auditor's real training
    images, with the auditor's protocol — on the real test set, beside the auditor's accuracy (Shmelkov et al.);
  - cluster NMI (ClusterGAN's protocol) in the auditing CNN's `relu3` features, and the same for real test images;
  - classifier FID and KID in those features against the real test set, beside the floor of held-out training
    images the auditor never saw (`holdout`);
  - generation SSIM (the best SSIM to a real training image of the same class) beside the real-vs-real figure of
    test images against the same references, and the memorisation ratio;
  - the auditor's Grad-CAM++ IoU-XAI with each sample's own foreground, beside real test images';
  - the subgroup share: generated samples with thick strokes, beside real test images.
Run:  .build/release/lucerna run examples/19_attention_gan.lua                 (3 seeds; hours on 2 cores)
      .build/release/lucerna run examples/19_attention_gan.lua --set medium=true (the experiments' setting)
      .build/release/lucerna run examples/19_attention_gan.lua --set quick=true (a smaller model, 400 steps; minutes)
      --set dataset=fashion_mnist; --set attention=0 for the plain cWGAN-GP; --set loss=hinge --set spectral_norm=true
      --set n_critic=1 --set lr=1e-4 --set critic_lr=4e-4 for the SAGAN-style variant (its two learning rates; with
      --set steps=15000 in the medium setting for as many critic updates); --set feedback_weight=0 without explanation feedback;
      --set fairness_weight=0 without bias feedback. Long runs resume: lucerna run --resume RUN_DIR. ]]

local defaults = {
   seeds = {1, 2, 3}, dataset = "mnist", quick = false, medium = false,
   steps = 10000, batch = 64, n_critic = 5, loss = "wgan_gp", gradient_penalty = 10,
   lr = 1e-4, critic_lr = 0, beta1 = 0, beta2 = 0.9, ema = 0.999,   -- critic_lr 0: the generator's lr
   latent = 128, generator_channels = {128, 64}, critic_channels = {64, 128}, attention = 14,
   conditioning = "projection", spectral_norm = false,
   -- Explanation feedback: the auditor's Grad-CAM++ map (at relu2) of each generated sample kept on the
   -- sample's own foreground (pixels above 0.1); 0 turns it off.
   feedback_weight = 1, feedback_every = 1, feedback_layer = "relu2",
   -- Bias feedback: the soft share of thick-stroke samples kept at 1/2 and the auditor's per-class accuracy on
   -- generated samples kept even (both with this weight); 0 turns it off.
   fairness_weight = 1,
   auditor_epochs = 5, limit = 0,
   -- The last `holdout` training images are kept from the auditor: real images it never saw, the FID/KID floor
   -- against the test set (training images would sit apart in its features, the floor then too high).
   holdout = 10000,
   per_class = 1000,      -- generated samples per class for the scores
   references = 1000,     -- real training images per class for generation SSIM
   ssim_samples = 100,    -- generated (and real test) images per class scored by generation SSIM
   -- GAN-train's generated training set, samples per class; 0: the auditor's training set's size over the classes
   -- (Shmelkov et al. 2018 train on as many generated samples as the real classifier had real ones).
   gan_train_per_class = 0,
   gan_train_epochs = 5, every_images = 500, every_log = 100, every_metrics = 1000, metrics_per_class = 100,
   judge = true,
}
-- The quick setting: a smaller model with attention at 7×7 and a larger step size, 400 steps — recognisable
-- digits in a few minutes. It changes the defaults, so `--set` still overrides any of them.
local quick = {steps = 400, latent = 64, generator_channels = {64, 32}, critic_channels = {32, 64}, attention = 7,
               lr = 2e-4, limit = 12000, holdout = 2000, auditor_epochs = 1, per_class = 200, references = 200, ssim_samples = 50,
               gan_train_epochs = 2, every_images = 100, every_log = 50, every_metrics = 100, metrics_per_class = 50}
-- The medium setting, the one docs/results.md's three-seed experiments use: the quick setting's model trained
-- for 3,000 steps with the full protocol (all training images, a five-epoch auditor, full-size scores) — 35 to
-- 62 minutes a run at one thread with the other core busy (the WGAN-GP variants' seed-1 runs, 2026-12-03), where
-- the full model needs hours.
local medium = {steps = 3000, latent = 64, generator_channels = {64, 32}, critic_channels = {32, 64}, attention = 7,
                lr = 2e-4}
local config = lucerna.config(defaults)
if config.quick then
   config = lucerna.config(lucerna.merge(defaults, quick))
elseif config.medium then
   config = lucerna.config(lucerna.merge(defaults, medium))
end
lucerna.manual_seed(run.seed)

local limit = config.limit > 0 and config.limit or nil
local train_set = data[config.dataset]{split = "train", limit = limit}
local test_set = data[config.dataset]{split = "test"}
local protocol = {optimizer = {type = "adamw", lr = 1e-3, weight_decay = 1e-2}, schedule = "cosine", batch = 64,
                  validation = 0.2}

-- 1. The auditing classifier, trained on real images.
local count = train_set.labels:numel()
assert(config.holdout >= 0 and config.holdout < count, "holdout must leave training images for the auditor")
local auditor_set = {images = train_set.images:narrow(1, 1, count - config.holdout),
                     labels = train_set.labels:narrow(1, 1, count - config.holdout)}
local held_out = config.holdout > 0 and {images = train_set.images:narrow(1, count - config.holdout + 1, config.holdout),
                                         labels = train_set.labels:narrow(1, count - config.holdout + 1, config.holdout)}
                 or train_set
local auditor = models.cnn{}
train(lucerna.merge(protocol, {name = "auditor", model = auditor, data = auditor_set, epochs = config.auditor_epochs}))
local auditor_accuracy = evaluate{model = auditor, data = test_set, name = "auditor_test"}.accuracy

-- The protected subgroup: thick strokes, a sample's mean ink above the training images' median (half of the
-- training set by construction). The soft membership is a sigmoid of the distance to the median, steep enough
-- (1/50 of the ink's range of a few hundredths) to be nearly hard, smooth enough to differentiate.
local function ink(images) return images:flatten(2):mean(2) end
local median_ink = (function()
   local values = ink(train_set.images):totable()
   table.sort(values)
   return values[(#values + 1) // 2]
end)()
local function thick(images) return ((ink(images) - median_ink) * 50):sigmoid() end
local function thick_share(images) return ink(images):gt(median_ink):mean():item() end

-- 2. The GAN.
local attention = config.attention > 0 and config.attention or false
local generator = models.cgan_generator{latent = config.latent, channels = config.generator_channels,
                                        attention = attention and {resolution = attention} or false}
local critic = models.cgan_critic{channels = config.critic_channels, attention = attention,
                                  conditioning = config.conditioning, spectral_norm = config.spectral_norm}
-- Every `every_metrics` steps (and at the end), GAN-test accuracy and cluster NMI of the averaged generator
-- on `metrics_per_class` samples a class: the metrics curves of the report.
local function progress_metrics(step)
   local sample = generate{generator = generator, per_class = config.metrics_per_class, seed = step}
   local accuracy = metrics.gan_test_accuracy{classifier = auditor}
   accuracy:update(sample.images, sample.labels)
   local nmi = metrics.cluster_nmi{classifier = auditor, layer = "relu3", seed = 0}
   nmi:update(sample.images, sample.labels)
   return {gan_test_accuracy = accuracy:compute(), cluster_nmi = nmi:compute()}
end
local trained = train_gan{generator = generator, critic = critic, data = train_set, loss = config.loss, n_critic = config.n_critic,
          gradient_penalty = config.gradient_penalty, steps = config.steps, batch = config.batch, ema = config.ema,
          optimizer = {type = "adam", lr = config.lr, betas = {config.beta1, config.beta2}},
          critic_optimizer = {type = "adam", lr = config.critic_lr > 0 and config.critic_lr or config.lr,
                              betas = {config.beta1, config.beta2}},
          every = {log = config.every_log, images = config.every_images, metrics = config.every_metrics},
          on_metrics = progress_metrics,
          feedback = config.feedback_weight > 0 and {classifier = auditor, layer = config.feedback_layer,
                                                     explainer = "grad_cam_pp", weight = config.feedback_weight,
                                                     every = config.feedback_every} or nil,
          fairness = config.fairness_weight > 0 and {groups = thick, target = "uniform",
                                                     weight = config.fairness_weight, classifier = auditor,
                                                     accuracy_weight = config.fairness_weight} or nil}
-- Training time over every process of a resumed run (os.time() here would count the last one only).
local gan_seconds = math.floor(trained.seconds + 0.5)
run.save("generator", generator)

-- 3. Scores of the averaged generator.
local drawn = generate{generator = generator, per_class = config.per_class, seed = run.seed}

-- The first `count` samples of each class of a data set (labels 0-9), in class order.
local function per_class(set, count)
   local chosen, taken, labels = {}, {}, set.labels:totable()
   for index, label in ipairs(labels) do
      taken[label] = (taken[label] or 0) + 1
      if taken[label] <= count then chosen[#chosen + 1] = index end
   end
   table.sort(chosen, function(a, b) return labels[a] < labels[b] or (labels[a] == labels[b] and a < b) end)
   local indices = tensor(chosen)
   return {images = set.images:index_select(1, indices), labels = set.labels:index_select(1, indices)}
end

local function score(name, options, images, labels)
   local metric = metrics[name](options or {})
   metric:update(images, labels)
   return metric:compute(), metric:report()
end

local gan_test, gan_test_report = score("gan_test_accuracy", {classifier = auditor}, drawn.images, drawn.labels)
local features = {classifier = auditor, layer = "relu3"}
local cluster_nmi = score("cluster_nmi", lucerna.merge(features, {seed = run.seed}), drawn.images, drawn.labels)
local real_test = per_class(test_set, config.per_class)
local real_cluster_nmi = score("cluster_nmi", lucerna.merge(features, {seed = run.seed}), real_test.images,
                               real_test.labels)
-- The floor: real images the auditor never saw (the held-out training images) against the same test images.
local real_train = per_class(held_out, config.per_class)
local fid = score("fid", features, drawn.images, real_test.images)
local fid_floor = score("fid", features, real_train.images, real_test.images)
local kid = score("kid", lucerna.merge(features, {seed = run.seed}), drawn.images, real_test.images)
local kid_floor = score("kid", lucerna.merge(features, {seed = run.seed}), real_train.images, real_test.images)
local references = per_class(train_set, config.references)
local ssim_options = {references = references.images, labels = references.labels}
local ssim_drawn = per_class(drawn, config.ssim_samples)
local ssim_real = per_class(test_set, config.ssim_samples)
local generation_ssim = score("generation_ssim", ssim_options, ssim_drawn.images, ssim_drawn.labels)
local real_ssim = score("generation_ssim", ssim_options, ssim_real.images, ssim_real.labels)
local memorization = score("memorization_ratio", {train = train_set.images, test = test_set.images, seed = run.seed},
                           ssim_drawn.images, ssim_drawn.labels)

-- Explanation IoU: the auditor's Grad-CAM++ maps (top 20 %) against each sample's own foreground (pixels above
-- 0.1), for generated samples and, as the reference, real test images.
local explainer = explainers.grad_cam_pp{layer = config.feedback_layer}
local function explanation_iou(set)
   local iou = metrics.iou_xai{fraction = 0.2}
   local count = set.labels:numel()
   for start = 1, count, 500 do
      local length = math.min(500, count - start + 1)
      local images = set.images:narrow(1, start, length)
      iou:update(explainer:explain(auditor, images, set.labels:narrow(1, start, length)), images:gt(0.1))
   end
   return iou:compute()
end
local drawn_iou, real_iou = explanation_iou(ssim_drawn), explanation_iou(ssim_real)
local drawn_thick, real_thick = thick_share(drawn.images), thick_share(real_test.images)

-- GAN-train accuracy: a fresh CNN trained on generated samples only, tested on the real test set.
local gan_train_per_class = config.gan_train_per_class > 0 and config.gan_train_per_class
                            or auditor_set.labels:numel() // 10
local gan_train_set = gan_train_per_class == config.per_class and drawn
                      or generate{generator = generator, per_class = gan_train_per_class, seed = run.seed + 1000}
local gan_trained = models.cnn{}
train(lucerna.merge(protocol, {name = "gan_train", model = gan_trained, data = gan_train_set,
                               epochs = config.gan_train_epochs}))
local gan_train = evaluate{model = gan_trained, data = test_set, name = "gan_train_test"}.accuracy

-- The judge: a CNN like the auditor, trained last (so every score above stays as it was without it) from the random
-- state at this point, on the auditor's images; no feedback ever saw it.
local judge_accuracy, judge_test, judge_report
if config.judge then
   local judge = models.cnn{}
   train(lucerna.merge(protocol, {name = "judge", model = judge, data = auditor_set, epochs = config.auditor_epochs}))
   judge_accuracy = evaluate{model = judge, data = test_set, name = "judge_test"}.accuracy
   judge_test, judge_report = score("gan_test_accuracy", {classifier = judge}, drawn.images, drawn.labels)
end

local summary = {phase = "summary", auditor_accuracy = auditor_accuracy, gan_test_accuracy = gan_test,
                 gan_test_worst_class_accuracy = gan_test_report.worst_class_accuracy,
                 gan_train_accuracy = gan_train, gan_train_samples = gan_train_set.labels:numel(),
                 cluster_nmi = cluster_nmi, real_cluster_nmi = real_cluster_nmi,
                 classifier_fid = fid, classifier_fid_floor = fid_floor, classifier_kid = kid,
                 classifier_kid_floor = kid_floor, generation_ssim = generation_ssim, real_ssim = real_ssim,
                 memorization_ratio = memorization, explanation_iou = drawn_iou, real_explanation_iou = real_iou,
                 thick_share = drawn_thick, real_thick_share = real_thick,
                 -- the bias feedback's target is one half: how far the generated share is from it
                 thick_share_gap = math.abs(drawn_thick - 0.5),
                 gan_seconds = gan_seconds,
                 judge_accuracy = judge_accuracy, gan_test_accuracy_judge = judge_test,
                 gan_test_worst_class_accuracy_judge = judge_report and judge_report.worst_class_accuracy}
run.log(summary)
print(("%s, %d generator steps in %d s"):format(config.dataset, config.steps, gan_seconds))
print(("GAN-test accuracy %.4f (worst class %.4f; the auditor on real test images %.4f), GAN-train accuracy %.4f"
       .. " (trained on %d generated samples)")
      :format(gan_test, gan_test_report.worst_class_accuracy, auditor_accuracy, gan_train, gan_train_set.labels:numel()))
if judge_test then
   print(("GAN-test accuracy by the judge %.4f (worst class %.4f; the judge on real test images %.4f)")
         :format(judge_test, judge_report.worst_class_accuracy, judge_accuracy))
end
print(("cluster NMI %.4f (real test images %.4f); classifier FID %.3f (real floor %.3f), KID %.4f (floor %.4f)")
      :format(cluster_nmi, real_cluster_nmi, fid, fid_floor, kid, kid_floor))
print(("generation SSIM %.4f (real test images against the same references %.4f), memorisation ratio %.3f")
      :format(generation_ssim, real_ssim, memorization))
print(("Grad-CAM++ IoU-XAI with the samples' own foreground %.4f (real test images %.4f)"):format(drawn_iou, real_iou))
print(("thick-stroke share %.4f (real test images %.4f; training images 0.5 by construction)")
      :format(drawn_thick, real_thick))
return summary
