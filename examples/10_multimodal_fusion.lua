--[[ 10_multimodal_fusion.lua: compare fusion strategies on multimodal MNIST (a handwritten digit and a spoken
recording of the same digit), each trained with the paper's protocol.
Run:  .build/release/lucerna run examples/10_multimodal_fusion.lua                  (3 seeds, every method)
      .build/release/lucerna run examples/10_multimodal_fusion.lua --seed 1 --set methods=concat,cross_attention
To separate the methods the images are degraded (as AV-MNIST degrades its images): Gaussian pixel noise
(image_noise, clamped to [0, 1]) and a zeroed square of occlusion x occlusion pixels at a seeded position;
audio_noise adds Gaussian noise to the log-mel features. For each method — image only, audio only, and each
fusion — an image CNN encoder (conv_encoder) and a 1-D temporal CNN over the log-mel frames (temporal_encoder)
feed the fusion and a linear head; train{} holds out a stratified 20 % for validation, early-stops on
val_f1 (patience 2) and restores the best epoch, with AdamW + cosine annealing. Logged per method: test
accuracy and macro F1, accuracy with each modality dropped (the fusion's zero placeholder), and the
modalities' shares of Integrated Gradients attribution mass on the first `explain` test samples, and robust
accuracy on those samples when one modality is attacked (PGD-10, L-inf, random start, the other modality held):
the image with eps `image_eps` (pixels kept in [0, 1]), the log-mel audio with eps `audio_eps` (unclamped), and
when both are attacked at once, each within its own budget and range (one joint PGD-10). The
cross-attention weights (image positions attending to audio frames) go into the report as a picture. ]]

local config = lucerna.config{seeds = {1, 2, 3}, epochs = 6, limit = 15000, test_limit = 5000, batch = 64, patience = 2,
                              image_noise = 0.5, occlusion = 12, audio_noise = 4, dim = 32, explain = 300, image_eps = 0.1, audio_eps = 1,
                              methods = "image_only,audio_only,concat,sum,mean,product,film,tensor,low_rank_tensor,late,cross_attention,gated,modality_attention"}
lucerna.manual_seed(run.seed)
local degradation = {image_noise = config.image_noise, occlusion = config.occlusion, audio_noise = config.audio_noise, seed = 0}
local training = data.multimodal_mnist(lucerna.merge(degradation, {split = "train", limit = config.limit}))
local test = data.multimodal_mnist(lucerna.merge(degradation, {split = "test", limit = config.test_limit}))
run.image("degraded_test_images", test.images:narrow(1, 1, 16), {columns = 8, range = {0, 1}})

local fusion_specs = {
   concat = "concat", sum = {type = "sum", dim = config.dim}, mean = {type = "mean", dim = config.dim},
   product = {type = "product", dim = config.dim}, film = {type = "film", condition = 1}, tensor = {type = "tensor", dim = config.dim},
   low_rank_tensor = {type = "low_rank_tensor", dim = config.dim, rank = 4}, late = {type = "late", weights = "learned"},
   cross_attention = {type = "cross_attention", dim = config.dim, heads = 4}, gated = {type = "gated", dim = config.dim},
   modality_attention = {type = "modality_attention", dim = config.dim},
}
local shown = {images = test.images:narrow(1, 1, config.explain), spectrograms = test.spectrograms:narrow(1, 1, config.explain),
               labels = test.labels:narrow(1, 1, config.explain)}

for method in config.methods:gmatch("[^,]+") do
   local encoders = {}
   -- Specs rather than instances, so that a fusion taking token sequences gets encoders built with tokens = true.
   if method ~= "audio_only" then encoders.image = {type = "conv_encoder", channels = {16, 32}, dim = config.dim} end
   if method ~= "image_only" then encoders.audio = {type = "temporal_encoder", mels = 40, channels = {32, 32}, dim = config.dim} end
   local unimodal = method == "image_only" or method == "audio_only"
   assert(unimodal or fusion_specs[method], "unknown method " .. method)
   local model = models.multimodal_classifier{encoders = encoders, fusion = unimodal and false or fusion_specs[method], classes = 10}
   local function inputs(batch, drop)
      local given = {}
      if encoders.image and drop ~= "image" then given.image = batch.images end
      if encoders.audio and drop ~= "audio" then given.audio = batch.spectrograms end
      return given
   end
   local started = os.time()
   local result = train{
      model = model, forward = function(batch) return model(inputs(batch)) end, data = training, validation = 0.2, test = test,
      epochs = config.epochs, batch = config.batch, name = method,
      early_stopping = {metric = "val_f1", patience = config.patience, mode = "max"},
   }
   local record = {phase = "fusion", method = method, seconds = os.time() - started}
   if not unimodal then
      for _, dropped in ipairs{"image", "audio"} do
         local values = evaluate{model = model, forward = function(batch) return model(inputs(batch, dropped)) end, data = test}
         record[method .. "_accuracy_without_" .. dropped] = values.accuracy
      end
      local maps = explainers.integrated_gradients{steps = 16}:explain(model, {image = shown.images, audio = shown.spectrograms}, shown.labels)
      local shares = lucerna.relevance_shares(maps)
      record[method .. "_image_share"] = shares.image:mean():item()
      record[method .. "_audio_share"] = shares.audio:mean():item()
   end
   -- Attacking one modality, the other held (robust = correct both clean and attacked).
   local clean = inputs(shown)
   local correct = (model(clean):argmax(2) - 1):eq(shown.labels:float()):float()
   local budgets = {image = {eps = config.image_eps, clamp_min = 0, clamp_max = 1},
                    audio = {eps = config.audio_eps, clamp_min = -math.huge, clamp_max = math.huge}}
   local function robust(attacked) return (correct * (model(attacked):argmax(2) - 1):eq(shown.labels:float()):float()):mean():item() end
   for _, modality in ipairs{"image", "audio"} do
      if encoders[modality] then
         local budget = budgets[modality]
         local pgd = attacks.pgd{eps = budget.eps, alpha = budget.eps / 4, steps = 10, random_start = true,
                                 clamp_min = budget.clamp_min, clamp_max = budget.clamp_max}
         record[method .. "_robust_" .. modality .. "_attacked"] = robust(pgd:perturb(model, clean, shown.labels, modality))
      end
   end
   if not unimodal then
      -- Both at once, each within its own budget and range (the attack's eps and alpha scale per modality).
      local pgd = attacks.pgd{eps = config.image_eps, alpha = config.image_eps / 4, steps = 10, random_start = true}
      record[method .. "_robust_both_attacked"] = robust(pgd:perturb(model, clean, shown.labels, budgets))
   end
   run.log(record)
   local function shown_value(value) return value and ("%.4f"):format(value) or "-" end
   print(("%-20s robust accuracy with the image attacked %s, with the audio attacked %s, with both %s"):format(method,
      shown_value(record[method .. "_robust_image_attacked"]), shown_value(record[method .. "_robust_audio_attacked"]),
      shown_value(record[method .. "_robust_both_attacked"])))
   print(("%-20s test accuracy %.4f  f1 %.4f%s"):format(method, result.test.accuracy, result.test.f1,
      unimodal and "" or ("  without image %.4f  without audio %.4f  image share %.3f"):format(
         record[method .. "_accuracy_without_image"], record[method .. "_accuracy_without_audio"], record[method .. "_image_share"])))
   if method == "cross_attention" then
      no_grad(function() model{image = shown.images:narrow(1, 1, 8), audio = shown.spectrograms:narrow(1, 1, 8)} end)
      local weights = model:module("fusion"):attention()["2<-1"]   -- image positions (7x7) attending to audio frames
      run.image("cross_attention_image_from_audio", weights / weights:max(), {columns = 4})
   end
end
