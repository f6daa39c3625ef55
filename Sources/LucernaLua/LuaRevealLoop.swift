/// `reveal_to_revise{...}`: the Reveal-to-Revise loop, written in Lua over the `reveal` steps, `train{}` and
/// `evaluate{}` so that a researcher can read it, and replace any step by passing a function.
///
/// Reference: Pahde et al., "Reveal to Revise: An Explainable AI Life Cycle for Iterative Bias Correction of
/// Deep Models", MICCAI 2023 (maxdreyer/Reveal2Revise).
enum LuaRevealLoop {
    /// Defines the global `reveal_to_revise` in `lua`.
    static func install(in lua: LuaState) {
        let names = options.map { "\"\($0.name)\"" }.joined(separator: ", ")
        try? lua.run(
            source: source.replacingOccurrences(of: "{OPTION_NAMES}", with: "{\(names)}"), name: "reveal_to_revise.lua")
    }

    static let options: [(name: String, summary: String)] = [
        ("model", "the classifier (a module taking `data.images`, or a multimodal classifier with `modality`)"),
        (
            "modality",
            "for a multimodal classifier: the modality the loop explains and corrects (`layer` in its encoder, e.g. `encoders.image.relu1`); the others are held at each sample's own values"
        ),
        (
            "inputs",
            "with `modality`: the classifier's inputs as data fields by modality (default `{image = \"images\", audio = \"spectrograms\"}`); the explained modality's field holds the images SpRAy, the masks and the overlays use"
        ),
        ("data", "the training set (`images`, `labels`; `groups` and `artifact_masks` measure the annotation)"),
        ("test", "the clean test set"),
        ("poisoned", "the test set with the artifact on every sample (`artifact_masks` for artifact relevance)"),
        ("class", "the class whose training explanations SpRAy reveals (0-based)"),
        ("explainer", "explainer of Reveal and artifact relevance (default `lrp`, epsilon_plus)"),
        ("layer", "the layer the CAV lives in and ClArC corrects (default `relu1`)"),
        (
            "corrector",
            "`p_clarc`, `r_clarc` (reactive P-ClArC), `a_clarc`, `rrr`, `rr_clarc`, `grad_cam_pp_penalty`, or function(context) (default `p_clarc`)"
        ),
        ("rounds", "rounds at most (default 3)"),
        (
            "stop",
            "`{artifact_relevance = 0.05, min_cut = 0.05, revert = true}`: stop once the poisoned set's artifact relevance is at most `artifact_relevance`; a round that cuts it by less than `min_cut` of its value is undone (weights and ClArC transform) and ends the loop, unless `revert = false`"
        ),
        (
            "annotate",
            "`spray` (SpRAy's top-ranked cluster and the clusters like it, see `annotated_clusters`), `ground_truth` (`data.groups`), or function(context)"
        ),
        ("clusters", "k-means clusters of SpRAy (default 8)"),
        (
            "annotated_clusters",
            "with `annotate = \"spray\"`: which clusters are annotated — `\"similar\"` (default: the top-ranked cluster and every cluster whose extra relevance lies on the same spot, `similarity` at least `similar`), a number of top-ranked clusters, or `\"gap\"` (those before the largest drop in the ranking score among the top half)"
        ),
        (
            "similar",
            "with `annotated_clusters = \"similar\"`: the least cosine between a cluster's excess map and the top cluster's (default 0.5)"
        ),
        (
            "expand",
            "with SpRAy's annotation, re-annotate the class samples the first CAV projects nearer the concept (default true)"
        ),
        ("explained", "class samples explained for SpRAy at most (default all)"),
        ("evaluated", "poisoned samples explained for artifact relevance at most (default 1000)"),
        ("cav", "options of `reveal.cav` (default `{method = \"svm\", pooling = \"flat\"}`)"),
        (
            "others",
            "what the CAV separates the annotated samples from: `class` (the class's other samples, default), `all` (every other training sample, as when an artifact marks nearly the whole class) or `other_classes` (the other classes' samples: the class's unannotated samples, which may carry the artifact, left out)"
        ),
        (
            "contrast",
            "a data set of samples without the artifact that the CAV separates the annotated samples from, instead of `others` (e.g. the same images before the artifact was added, when every training sample carries one)"
        ),
        ("masks", "options of `reveal.localize`'s mask rule (default `{kernel = 7, sigma = 1}` for 28-pixel images)"),
        (
            "tune",
            "fine-tuning of the training correctors: `{epochs = 2, lr = 1e-4, batch = 64, weight = ...}` (`rrr` also `form` and `objective`; R2R's cosine form at weight 50 by default; `rr_clarc` weight 100, `grad_cam_pp_penalty` 1)"
        ),
        ("examples", "samples of the poisoned set drawn before and after each round (default 8)"),
        ("name", "prefix of the training runs, checkpoints and images (default `r2r`)"),
    ]

    static let source = """
        local loop_options = {}
        for _, name in ipairs({OPTION_NAMES}) do loop_options[name] = true end

        -- A data set with `pick` (tensor -> tensor) applied to every per-sample tensor, the rest as it is.
        local function per_sample(set, pick)
           local count = set.labels:numel()
           local out = {}
           for key, value in pairs(set) do
              local ok, rows = pcall(function() return value:shape()[1] end)
              if type(value) == "userdata" and ok and rows == count then out[key] = pick(value) else out[key] = value end
           end
           return out
        end

        -- The samples at `positions` (1-based) of a data set.
        local function subset(set, positions)
           local index = tensor(positions)
           return per_sample(set, function(value) return value:index_select(1, index) end)
        end

        -- Rows start..start + length - 1 of a data set.
        local function narrow(set, start, length)
           return per_sample(set, function(value) return value:narrow(1, start, length) end)
        end

        local function in_batches(count, size, body)
           for start = 1, count, size do body(start, math.min(size, count - start + 1)) end
        end

        -- What the model is run on for a data set's rows: its images, or with `modality`, its fields by modality.
        local function model_inputs(context, set)
           if not context.modality then return set.images end
           local given = {}
           for modality, field in pairs(context.inputs) do given[modality] = set[field] end
           return given
        end

        -- The explained input's maps (the explained modality's, for a multimodal classifier) of a data set's rows.
        local function explain(context, set, targets)
           local parts = {}
           in_batches(set.labels:numel(), 250, function(start, length)
              local maps = context.explainer:explain(context.model, model_inputs(context, narrow(set, start, length)),
                                                     targets and targets:narrow(1, start, length) or nil)
              parts[#parts + 1] = context.modality and maps[context.modality] or maps
           end)
           return tensor.cat(parts, 1)
        end

        local function measure(context)
           local options, model = context.options, context.model
           local record = {}
           if options.test then
              local metrics = {accuracy = "accuracy"}
              if options.test.groups then metrics.worst_group_accuracy = "worst_group_accuracy" end
              local values = evaluate{model = model, data = options.test, metrics = metrics, forward = context.forward}
              record.clean_accuracy = values.accuracy
              record.worst_group_accuracy = values.worst_group_accuracy
           end
           local poisoned = options.poisoned
           if poisoned then
              record.poisoned_accuracy = evaluate{model = model, data = poisoned, metrics = {accuracy = "accuracy"},
                                                  forward = context.forward}.accuracy
              if poisoned.artifact_masks then
                 local count = math.min(context.evaluated, poisoned.labels:numel())
                 local maps = explain(context, narrow(poisoned, 1, count))
                 record.artifact_relevance = reveal.artifact_relevance{heatmaps = maps,
                    masks = poisoned.artifact_masks:narrow(1, 1, count)}.mean
              end
           end
           return record
        end

        local function draw(context, tag)
           local poisoned = context.options.poisoned
           if not (run and run.overlay and poisoned and context.examples > 0) then return end
           local count = math.min(context.examples, poisoned.labels:numel())
           local shown = narrow(poisoned, 1, count)
           run.overlay(context.name .. "_" .. tag, shown[context.field], {{"lrp", explain(context, shown)}})
        end

        local function fine_tune(context, name, set, regularizer)
           local tune = context.tune
           return train{name = context.name .. "_" .. name, model = context.model, data = set, validation = 0.2,
                        forward = context.forward, inputs = context.field,
                        epochs = tune.epochs or 2, batch = tune.batch or 64,
                        optimizer = {type = "adamw", lr = tune.lr or 1e-4, weight_decay = 1e-2}, schedule = "cosine",
                        regularizers = {regularizer}}
        end

        local function with_masks(context)
           -- The training set with the localised masks on the annotated samples and empty masks elsewhere.
           local data = context.options.data
           local count = data.labels:numel()
           local masks = context.masks:float()
           local shape = data[context.field]:shape()
           local rows = masks:reshape{masks:shape()[1], 1, shape[3], shape[4]}
           local lookup = {}
           for index, position in ipairs(context.annotated) do lookup[position] = index end
           local index = {}
           for position = 1, count do index[position] = lookup[position] or (#context.annotated + 1) end
           local padded = tensor.cat({rows, tensor.zeros{1, 1, shape[3], shape[4]}}, 1)
           return lucerna.merge(data, {artifact_masks = padded:index_select(1, tensor(index))})
        end

        -- ClArC at the loop's layer along its CAV; returns reveal.clarc's handle so a round can be undone.
        local function clarc(mode, reactive)
           return function(context)
              return reveal.clarc{model = context.model, layer = context.layer, cav = context.cav, mode = mode,
                                  reactive = reactive}
           end
        end

        local correctors = {
           p_clarc = clarc("projective", false),
           r_clarc = clarc("projective", true),
           a_clarc = clarc("additive", false),
           rrr = function(context)
              fine_tune(context, "round" .. context.round, with_masks(context),
                        {type = "rrr", weight = context.tune.weight or 50, form = context.tune.form or "cosine",
                         objective = context.tune.objective})
           end,
           grad_cam_pp_penalty = function(context)
              fine_tune(context, "round" .. context.round, with_masks(context),
                        {type = "grad_cam_pp_penalty", weight = context.tune.weight or 1})
           end,
           rr_clarc = function(context)
              fine_tune(context, "round" .. context.round, context.options.data,
                        {type = "rr_clarc", weight = context.tune.weight or 100, layer = context.layer,
                         concept = context.cav.vector})
           end,
        }

        -- Precision and recall of annotated positions against data.groups among the explained samples.
        local function score(context, annotated)
           local chosen, hits, truth = {}, 0, 0
           for _, position in ipairs(annotated) do chosen[position] = true end
           for _, position in ipairs(context.explained_positions) do
              if context.groups[position] == 1 then
                 truth = truth + 1
                 if chosen[position] then hits = hits + 1 end
              end
           end
           return hits / math.max(#annotated, 1), truth > 0 and hits / truth or nil
        end

        local function annotate(context)
           local kind = context.options.annotate or "spray"
           if type(kind) == "function" then return kind(context) end
           if kind == "ground_truth" then
              local found = {}
              for _, position in ipairs(context.explained_positions) do
                 if context.groups[position] == 1 then found[#found + 1] = position end
              end
              return found
           end
           if kind ~= "spray" then error("reveal_to_revise: annotate must be spray, ground_truth or a function", 0) end
           -- The top-ranked cluster (R2R's choice) with every cluster whose extra relevance lies on the same spot
           -- ("similar": SpRAy may split one artifact over two clusters), a number of top-ranked clusters, or
           -- ("gap") those before the largest drop in the ranking score among the top half.
           local ranking = context.spray.ranking.kmeans
           local take = context.options.annotated_clusters or "similar"
           local ranks = {}
           if take == "similar" then
              local least = context.options.similar or 0.5
              for rank, cluster in ipairs(ranking) do
                 if rank == 1 or cluster.similarity >= least then ranks[#ranks + 1] = rank end
              end
           else
              if take == "gap" then
                 take = 1
                 local widest = -math.huge
                 for rank = 1, math.max(1, math.floor(#ranking / 2)) do
                    local drop = ranking[rank + 1] and ranking[rank].score - ranking[rank + 1].score or -math.huge
                    if drop > widest then widest, take = drop, rank end
                 end
              end
              for rank = 1, math.min(take, #ranking) do ranks[rank] = rank end
           end
           context.annotated_ranks = ranks
           context.annotated_clusters = #ranks
           local found = {}
           for _, rank in ipairs(ranks) do
              for _, member in ipairs(ranking[rank].members:totable()) do
                 found[#found + 1] = context.explained_positions[member + 1]
              end
           end
           table.sort(found)
           return found
        end

        function reveal_to_revise(options)
           if type(options) ~= "table" then error("reveal_to_revise: expected a table of options", 2) end
           for key in pairs(options) do
              if not loop_options[key] then error(("reveal_to_revise: unknown option '%s'"):format(tostring(key)), 2) end
           end
           for _, key in ipairs({"model", "data", "class"}) do
              if options[key] == nil then error(("reveal_to_revise: option %s is required"):format(key), 2) end
           end
           local modality, inputs = options.modality, nil
           local fields = {"images"}
           if modality ~= nil then
              if type(modality) ~= "string" then error("reveal_to_revise: modality must be a modality's name", 2) end
              inputs = options.inputs or {image = "images", audio = "spectrograms"}
              if type(inputs) ~= "table" or type(inputs[modality]) ~= "string" then
                 error(("reveal_to_revise: inputs must map modality '%s' (and the others) to data fields"):format(modality), 2)
              end
              fields = {}
              for name, field in pairs(inputs) do
                 if type(field) ~= "string" then
                    error(("reveal_to_revise: inputs.%s must name a data field"):format(tostring(name)), 2)
                 end
                 fields[#fields + 1] = field
              end
              table.sort(fields)
           elseif options.inputs ~= nil then
              error("reveal_to_revise: inputs applies with modality (a multimodal classifier)", 2)
           end
           for _, key in ipairs({"data", "test", "poisoned", "contrast"}) do
              local set = options[key]
              local valid = set == nil or (type(set) == "table" and type(set.labels) == "userdata")
              for _, field in ipairs(fields) do valid = valid and (set == nil or type(set[field]) == "userdata") end
              if not valid then
                 error(("reveal_to_revise: %s must be a data set with %s and labels tensors"):format(key,
                    table.concat(fields, ", ")), 2)
              end
           end
           if type(options.class) ~= "number" then error("reveal_to_revise: class must be a class index (0-based)", 2) end
           local corrector = options.corrector or "p_clarc"
           if type(corrector) ~= "function" and not correctors[corrector] then
              error(("reveal_to_revise: unknown corrector '%s' (p_clarc, r_clarc, a_clarc, rrr, rr_clarc, grad_cam_pp_penalty or a function)")
                 :format(tostring(corrector)), 2)
           end
           if options.annotate == "ground_truth" and not options.data.groups then
              error("reveal_to_revise: annotate = \\"ground_truth\\" needs data.groups", 2)
           end
           local explainer = options.explainer or "lrp"
           if type(explainer) == "string" then explainer = explainers[explainer]{} end
           if type(explainer) == "table" then explainer = lucerna.build("explainer", explainer) end
           local context = {
              options = options, model = options.model, class = options.class, explainer = explainer,
              layer = options.layer or "relu1", tune = options.tune or {}, name = options.name or "r2r",
              modality = modality, inputs = inputs, fields = fields, field = modality and inputs[modality] or "images",
              evaluated = options.evaluated or 1000, examples = options.examples or 8,
              labels = options.data.labels:totable(),
              groups = options.data.groups and options.data.groups:totable() or nil,
           }
           if modality then
              context.forward = function(batch) return context.model(model_inputs(context, batch)) end
           end
           local stop_options = options.stop or {}
           if type(stop_options) ~= "table" then error("reveal_to_revise: stop must be a table {artifact_relevance = ..., min_cut = ..., revert = ...}", 2) end
           local stop = stop_options.artifact_relevance or 0.05
           local min_cut = stop_options.min_cut or 0.05
           if type(min_cut) ~= "number" or min_cut < 0 or min_cut > 1 then
              error("reveal_to_revise: stop.min_cut must be a number from 0 to 1", 2)
           end
           local revert = stop_options.revert ~= false
           local cav_options = lucerna.merge({method = "svm", pooling = "flat"}, options.cav)
           local mask_options = lucerna.merge({kernel = 7, sigma = 1}, options.masks)
           local class_positions = {}
           for index, label in ipairs(context.labels) do
              if label == context.class then class_positions[#class_positions + 1] = index end
           end
           if #class_positions < 3 then
              error(("reveal_to_revise: class %s has %d training samples"):format(tostring(context.class), #class_positions), 2)
           end
           local take = options.annotated_clusters
           if take ~= nil and take ~= "gap" and take ~= "similar" and not (math.type(take) == "integer" and take >= 1) then
              error("reveal_to_revise: annotated_clusters must be \\"similar\\", \\"gap\\" or a positive integer", 2)
           end
           if options.similar ~= nil and (type(options.similar) ~= "number" or options.similar < -1 or options.similar > 1) then
              error("reveal_to_revise: similar must be a number from -1 to 1", 2)
           end
           local others = options.others or "class"
           if others ~= "class" and others ~= "all" and others ~= "other_classes" then
              error("reveal_to_revise: others must be \\"class\\", \\"all\\" or \\"other_classes\\"", 2)
           end
           local cav_positions = class_positions
           if others ~= "class" then
              cav_positions = {}
              for index, label in ipairs(context.labels) do
                 if others == "all" or label ~= context.class then cav_positions[#cav_positions + 1] = index end
              end
           end
           local contrast = options.contrast
           if contrast then
              local given, expected = contrast[context.field]:shape(), options.data[context.field]:shape()
              local same = #given == #expected
              for axis = 2, #expected do same = same and given[axis] == expected[axis] end
              if not same then
                 error(("reveal_to_revise: contrast images are [%s], the data's [%s]: they must match but for the count")
                    :format(table.concat(given, ", "), table.concat(expected, ", ")), 2)
              end
           end
           -- The CAV's samples (the model's inputs): the annotated ones (1) and what they are told apart from (0).
           local function concept_set(annotated)
              local marks = {}
              if contrast then
                 local chosen, joined = subset(options.data, annotated), {}
                 for _, field in ipairs(fields) do joined[field] = tensor.cat({chosen[field], contrast[field]}, 1) end
                 for index = 1, #annotated + contrast.labels:numel() do marks[index] = index <= #annotated and 1 or 0 end
                 return model_inputs(context, joined), marks
              end
              local chosen = {}
              for _, position in ipairs(annotated) do chosen[position] = true end
              local picked = {}
              for _, position in ipairs(cav_positions) do
                 picked[#picked + 1] = position
                 marks[#marks + 1] = chosen[position] and 1 or 0
              end
              -- The annotated samples that are not among the others (outside the class, or, against the other
              -- classes, all of them).
              for _, position in ipairs(annotated) do
                 local among = others == "all" or (context.labels[position] == context.class) == (others == "class")
                 if not among then picked[#picked + 1] = position; marks[#marks + 1] = 1 end
              end
              return model_inputs(context, subset(options.data, picked)), marks
           end
           local explained = {}
           for index = 1, math.min(#class_positions, options.explained or #class_positions) do
              explained[index] = class_positions[index]
           end
           context.explained_positions = explained

           local before = measure(context)
           before.round = 0
           if run and run.log then run.log(lucerna.merge({phase = "reveal_to_revise"}, before)) end
           draw(context, "round0")
           local rounds = {before}
           for round = 1, options.rounds or 3 do
              if before.artifact_relevance and before.artifact_relevance <= stop and round > 1 then break end
              context.round = round
              -- Reveal: SpRAy on the class's training explanations.
              local class_set = subset(options.data, explained)
              local heatmaps = explain(context, class_set, class_set.labels)
              context.spray = reveal.spray{heatmaps = heatmaps,
                 clusterings = {kmeans = clusterings.kmeans{clusters = options.clusters or 8}}}
              -- Annotate.
              local annotated = annotate(context)
              if #annotated == 0 then error("reveal_to_revise: no samples annotated in round " .. round, 0) end
              context.annotated = annotated
              if run and run.image then
                 local top = {}
                 for index, rank in ipairs(context.annotated_ranks or {1}) do top[index] = context.spray.ranking.kmeans[rank].cluster end
                 run.image(context.name .. "_round" .. round .. "_spray", reveal.scatter{points = context.spray.coordinates,
                    labels = context.spray.labels.kmeans, highlight = top}, {range = {0, 1}})
              end
              local first_annotated = annotated
              -- Localise: a CAV from the annotated samples against the class's other samples, all others, or
              -- the contrast set.
              local cav_images, marks = concept_set(annotated)
              context.cav = reveal.cav(lucerna.merge(cav_options, {model = context.model, layer = context.layer,
                 inputs = cav_images, modality = modality, labels = tensor(marks), seed = round}))
              if options.expand ~= false and (options.annotate or "spray") == "spray" then
                 -- SpRAy may split the artifact's samples over several clusters: a signal CAV of the top one
                 -- (a difference of means, which the unannotated artifact samples among the "others" barely
                 -- turn, unlike an SVM that learns to separate them) annotates every class sample that projects
                 -- nearer the concept's mean than the others'.
                 local signal = reveal.cav(lucerna.merge(cav_options, {model = context.model, layer = context.layer,
                    inputs = cav_images, modality = modality, labels = tensor(marks), seed = round, method = "signal"}))
                 local projections = reveal.project{model = context.model, layer = context.layer,
                    inputs = model_inputs(context, subset(options.data, explained)), modality = modality,
                    cav = signal}:totable()
                 local midpoint = (signal.concept_mean + signal.other_mean) / 2
                 local expanded = {}
                 for index, position in ipairs(explained) do
                    if projections[index] > midpoint then expanded[#expanded + 1] = position end
                 end
                 if #expanded > 0 then
                    annotated = expanded
                    context.annotated = annotated
                    cav_images, marks = concept_set(annotated)
                    context.cav = reveal.cav(lucerna.merge(cav_options, {model = context.model, layer = context.layer,
                       inputs = cav_images, modality = modality, labels = tensor(marks), seed = round}))
                 end
              end
              local record = {round = round, annotated = #annotated, spray_annotated = #first_annotated,
                              spray_clusters = context.annotated_clusters}
              if context.groups then
                 record.annotation_precision, record.annotation_recall = score(context, annotated)
                 record.spray_precision, record.spray_recall = score(context, first_annotated)
              end
              local annotated_set = subset(options.data, annotated)
              local found = reveal.localize(lucerna.merge(mask_options, {model = context.model, layer = context.layer,
                 inputs = model_inputs(context, annotated_set), modality = modality, cav = context.cav,
                 explainer = context.explainer}))
              context.masks = found.masks
              if run and run.overlay and context.examples > 0 then
                 local count = math.min(context.examples, #annotated)
                 run.overlay(context.name .. "_round" .. round .. "_masks", annotated_set[context.field]:narrow(1, 1, count),
                    {{"cav_relevance", found.heatmaps:narrow(1, 1, count)}, {"mask", found.masks:narrow(1, 1, count)}})
              end
              if annotated_set.artifact_masks then
                 local truth = annotated_set.artifact_masks:float():reshape(found.masks:shape())
                 local masks = found.masks:float()
                 local union = (masks + truth):gt(0):float():sum():item()
                 record.mask_iou = union > 0 and (masks * truth):sum():item() / union or nil
              end
              if options.poisoned then
                 local count = math.min(context.evaluated, options.poisoned.labels:numel())
                 record.tcav_before = reveal.tcav{model = context.model, layer = context.layer, cav = context.cav,
                    inputs = model_inputs(context, narrow(options.poisoned, 1, count)), modality = modality,
                    class = context.class}.score
              end
              -- Revise (a snapshot of the weights first, so that a round that does not help can be undone).
              local snapshot = revert and context.model:state_dict() or nil
              local handle
              if type(corrector) == "function" then handle = corrector(context) else handle = correctors[corrector](context) end
              -- Re-evaluate.
              local after = measure(context)
              for key, value in pairs(after) do record[key] = value end
              if options.poisoned then
                 local count = math.min(context.evaluated, options.poisoned.labels:numel())
                 record.tcav = reveal.tcav{model = context.model, layer = context.layer, cav = context.cav,
                    inputs = model_inputs(context, narrow(options.poisoned, 1, count)), modality = modality,
                    class = context.class}.score
              end
              -- A round that did not cut the artifact relevance by min_cut (SpRAy found no artifact cluster any
              -- more, or the correction failed) is undone below and ends the loop.
              record.reverted = revert and before.artifact_relevance ~= nil and record.artifact_relevance ~= nil
                 and record.artifact_relevance > (1 - min_cut) * before.artifact_relevance or nil
              if run and run.log then
                 run.log(lucerna.merge({phase = "reveal_to_revise"}, record))
                 run.save(context.name .. "-round" .. round, context.model)
                 lucerna.save_tensors(run.dir .. "/checkpoints/" .. context.name .. "-round" .. round .. "-cav.safetensors",
                    {cav = context.cav.vector, masks = context.masks:float(), annotated = tensor(annotated) - 1})
              end
              rounds[#rounds + 1] = record
              if record.reverted then
                 if type(handle) == "table" and type(handle.remove) == "function" then handle.remove() end
                 context.model:load_state_dict(snapshot)
                 break
              end
              draw(context, "round" .. round)
              before = record
              if record.artifact_relevance and record.artifact_relevance <= stop then break end
           end
           local first, last = rounds[1], before
           local summary = {rounds = rounds, final = last}
           if first.artifact_relevance and last.artifact_relevance and first.artifact_relevance > 0 then
              summary.artifact_relevance_cut = 1 - last.artifact_relevance / first.artifact_relevance
           end
           if run and run.note then
              local lines = {"| round | annotated | precision | recall | mask IoU | clean acc | poisoned acc | artifact relevance | TCAV before | TCAV after |",
                             "|---|---|---|---|---|---|---|---|---|---|"}
              local function cell(value) return value and ("%.4f"):format(value) or "" end
              for _, row in ipairs(rounds) do
                 lines[#lines + 1] = ("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |"):format(row.round,
                    row.annotated and tostring(row.annotated) or "", cell(row.annotation_precision), cell(row.annotation_recall),
                    cell(row.mask_iou), cell(row.clean_accuracy), cell(row.poisoned_accuracy), cell(row.artifact_relevance),
                    cell(row.tcav_before), cell(row.tcav))
                 if row.reverted then lines[#lines] = lines[#lines]:gsub("^| %d+", "%0 (undone)") end
              end
              run.note("Reveal-to-Revise (" .. (type(corrector) == "string" and corrector or "custom corrector") .. "):\\n\\n"
                 .. table.concat(lines, "\\n"))
           end
           return summary
        end
        """
}
