--[[ farthest_first.lua: k-center clustering by farthest-first traversal (Gonzalez 1985).
ARGS   clusters (default 8): the number of centres.
RETURN fit(self, points) = a label per row of points [N, features]: the index (0-based) of the nearest of
       `clusters` centres, picked one at a time as the point farthest from those picked so far, starting
       from the first point. Its largest point-to-centre distance is at most twice the optimal k-center
       radius. Deterministic, no restarts: a quick first look at how many well-separated groups there are.
Reference: Gonzalez, "Clustering to minimize the maximum intercluster distance", Theoretical Computer
Science 38, 1985. ]]
return {
   kind = "clustering",
   name = "farthest_first",
   description = "k-center clustering by farthest-first traversal: each new centre the point farthest from the others",
   reference = "Gonzalez, Clustering to minimize the maximum intercluster distance, 1985",
   defaults = {clusters = 8},
   options = {clusters = "the number of centres"},

   fit = function(self, points)
      local count = points:shape()[1]
      local clusters = math.min(self.options.clusters, count)
      local function distances(index)
         local centre = points:narrow(1, index, 1)
         return (points - centre):square():sum(2)
      end
      local nearest = distances(1)       -- squared distance to the nearest centre so far
      local labels = nearest * 0          -- centre 0 is the first point
      for centre = 1, clusters - 1 do
         local farthest = nearest:argmax():item()   -- 1-based
         local candidate = distances(farthest)
         local closer = candidate:lt(nearest):type_as(nearest)
         labels = labels * (1 - closer) + closer * centre
         nearest = nearest:minimum(candidate)
      end
      return labels:long()
   end,
}
