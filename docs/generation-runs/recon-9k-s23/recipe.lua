--[[ 20_spoken_to_image.lua: fused conditioning on multimodal MNIST — the generator draws from a multimodal
classifier's fused embedding, in two settings (docs/guide/generation.md):
  - reconstruction: conditioned on each pair's own fused embedding (handwritten digit + spoken digit) with an
    L1 reconstruction term, scored by reconstruction SSIM against the pair's real image on test pairs, beside
    the SSIM of the training set's mean image of the digit (what drawing the class alone gives);
  - spoken digit → image: conditioned on the embedding of the spoken digit alone (the image modality left out,
    the fusion's placeholder in its place), scored by GAN-test accuracy — an auditing CNN trained on real
    images, on the drawings, against the class the speaker named — beside the multimodal classifier's own
    accuracy from the audio alone.
Run:  .build/release/lucerna run examples/20_spoken_to_image.lua                 (3 seeds; hours on 2 cores)
      .build/release/lucerna run examples/20_spoken_to_image.lua --set medium=true (the experiments' setting)
      .build/release/lucerna run examples/20_spoken_to_image.lua --set quick=true (a smaller model; minutes)
Long runs resume: lucerna run --resume RUN_DIR. ]]

local defaults = {
   seeds = {1, 2, 3}, quick = false, medium = false, limit = 0, test_pairs = 2000,
   classifier_epochs = 5, dim = 64, fusion = "concat",
   -- Modality dropout: the share of training batches in which the classifier sees the spoken digit alone (the
   -- image left out, the fusion's placeholder in its place), so that the audio-only embedding knows the digit.
   image_dropout = 0.5,
   train_conditioner = true,
   steps = 5000, batch = 64, n_critic = 5, lr = 1e-4, beta1 = 0, beta2 = 0.9, ema = 0.999,
   latent = 64, generator_channels = {128, 64}, critic_channels = {64, 128}, attention = 14,
   reconstruction = 100, every_log = 100, every_images = 500, every_metrics = 1000, curve_pairs = 500,
}
local quick = {limit = 12000, test_pairs = 1000, classifier_epochs = 2, steps = 300, latent = 32,
               generator_channels = {64, 32}, critic_channels = {32, 64}, attention = 7, lr = 2e-4,
               every_log = 50, every_images = 100}
-- The medium setting, the one docs/results.md's three-seed experiments use: the quick setting's model trained for
-- 3,000 steps on all training pairs, with a five-epoch classifier and auditor and 2,000 test pairs.
local medium = {steps = 3000, latent = 32, generator_channels = {64, 32}, critic_channels = {32, 64}, attention = 7,
                lr = 2e-4}
local config = lucerna.config(defaults)
if config.quick then
   config = lucerna.config(lucerna.merge(defaults, quick))
elseif config.medium then
   config = lucerna.config(lucerna.merge(defaults, medium))
end
lucerna.manual_seed(run.seed)

local limit = config.limit > 0 and config.limit or nil
local train_set = data.multimodal_mnist{split = "train", limit = limit}
local test_set = data.multimodal_mnist{split = "test", limit = config.test_pairs}
local protocol = {optimizer = {type = "adamw", lr = 1e-3, weight_decay = 1e-2}, schedule = "cosine", batch = 64,
                  validation = 0.2}

-- 1. The multimodal classifier whose fused embedding conditions the generators, and an image-only auditor.
local function multimodal()
   return models.multimodal_classifier{
      encoders = {image = {type = "conv_encoder", channels = {16, 32}, dim = config.dim},
                  audio = {type = "temporal_encoder", mels = 40, channels = {32, 32}, dim = config.dim}},
      fusion = config.fusion, classes = 10}
end
local classifier = multimodal()
-- The classifier's inputs for a batch, with the image left out when `leave_out` is "image".
local function pairs_of(batch, leave_out)
   local given = {audio = batch.spectrograms}
   if leave_out ~= "image" then given.image = batch.images end
   return given
end
train(lucerna.merge(protocol, {name = "multimodal", model = classifier, data = train_set,
                               epochs = config.classifier_epochs,
                               forward = function(batch)
                                  local drop = classifier:is_training() and tensor.rand{1}:item() < config.image_dropout
                                  return classifier(pairs_of(batch, drop and "image" or nil))
                               end}))
local multimodal_accuracy = evaluate{model = classifier, data = test_set, name = "multimodal_test",
                                     forward = function(batch) return classifier(pairs_of(batch)) end}.accuracy
local spoken_accuracy = evaluate{model = classifier, data = test_set, name = "spoken_only_test",
                                 forward = function(batch) return classifier(pairs_of(batch, "image")) end}.accuracy
local auditor = models.cnn{}
train(lucerna.merge(protocol, {name = "auditor", model = auditor, data = {images = train_set.images,
                                                                          labels = train_set.labels},
                               epochs = config.classifier_epochs}))

-- The fused embeddings, once, without gradients (in chunks): both modalities, and the spoken digit alone.
local function embeddings(set, leave_out, model)
   model = model or classifier
   model:eval()
   local parts, count = {}, set.labels:numel()
   no_grad(function()
      for start = 1, count, 1000 do
         local length = math.min(1000, count - start + 1)
         local batch = {images = set.images:narrow(1, start, length),
                        spectrograms = set.spectrograms:narrow(1, start, length)}
         parts[#parts + 1] = model:embed(pairs_of(batch, leave_out))
      end
   end)
   return tensor.cat(parts, 1)
end
local spoken_train, spoken_test = embeddings(train_set, "image"), embeddings(test_set, "image")

-- 2. The two generators, each with the projection critic on the pair's label.
local attention = config.attention > 0 and config.attention or false
-- `conditioning` is a tensor of conditioning vectors, or a conditioner {model = ..., inputs = ...} that computes
-- them from the pairs' modalities, trained with the generator.
local function gan(name, conditioning, reconstruction, on_metrics)
   -- The conditioning vectors' width: a conditioner's embedding of one pair, or the given vectors'.
   local width = conditioning.model and no_grad(function()
      return conditioning.model:embed{image = test_set.images:narrow(1, 1, 1),
                                      audio = test_set.spectrograms:narrow(1, 1, 1)}
   end):shape()[2] or conditioning:shape()[2]
   local generator = models.cgan_generator{latent = config.latent, channels = config.generator_channels,
                                           attention = attention and {resolution = attention} or false,
                                           conditioning = "fused", condition_dim = width}
   local critic = models.cgan_critic{channels = config.critic_channels, attention = attention}
   local trained = train_gan{name = name, generator = generator, critic = critic,
             data = {images = train_set.images, labels = train_set.labels, spectrograms = train_set.spectrograms,
                     conditions = not conditioning.model and conditioning or nil},
             conditions = not conditioning.model and "conditions" or nil,
             conditioner = conditioning.model and conditioning or nil,
             reconstruction = reconstruction, steps = config.steps, batch = config.batch,
             n_critic = config.n_critic, ema = config.ema,
             optimizer = {type = "adam", lr = config.lr, betas = {config.beta1, config.beta2}},
             every = {log = config.every_log, images = config.every_images, metrics = on_metrics and config.every_metrics or 0},
             on_metrics = on_metrics and function(step) return on_metrics(step, generator) end or nil}
   run.save(name .. "_generator", generator)
   -- Training time over every process of a resumed run (os.time() here would count the last one only).
   return generator, math.floor(trained.seconds + 0.5)
end

-- Reconstruction: each test pair redrawn from its own fused embedding. The conditioner is a copy of the trained
-- classifier that learns with the generator (`train_conditioner`), so that its embedding comes to keep the
-- digit's shape; false keeps it frozen.
local encoder = multimodal()
encoder:load_state_dict(classifier:state_dict())
local reconstructor
local curve_set = {images = test_set.images:narrow(1, 1, config.curve_pairs), labels = test_set.labels:narrow(1, 1, config.curve_pairs),
                   spectrograms = test_set.spectrograms:narrow(1, 1, config.curve_pairs)}
local function curve(step, generator)
   local was_training = encoder:is_training()
   local fused = embeddings(curve_set, nil, encoder)
   if was_training then encoder:train() end
   local metric = metrics.reconstruction_ssim{generator = generator, seed = run.seed}
   metric:update(fused, curve_set.images)
   return {reconstruction_ssim = metric:compute()}
end
local reconstruction_seconds
reconstructor, reconstruction_seconds = gan("reconstruction",
   {model = encoder, inputs = {image = "images", audio = "spectrograms"}, train = config.train_conditioner},
   config.reconstruction, curve)
local fused_test = embeddings(test_set, nil, encoder)
local ssim = metrics.reconstruction_ssim{generator = reconstructor, seed = run.seed}
ssim:update(fused_test, test_set.images)
local reconstruction_ssim = ssim:compute()
local summary = {phase = "summary", reconstruction_ssim = reconstruction_ssim, reconstruction_seconds = reconstruction_seconds}
run.log(summary)
print(("reconstruction SSIM %.4f; %d steps in %d s"):format(reconstruction_ssim, config.steps, reconstruction_seconds))
return summary
