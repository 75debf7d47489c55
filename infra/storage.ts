// The one bucket of the job layout: jobs/<jobId>/{input,result.json,parsing-<n>.png}.
// Objects are never public: clients reach them only through presigned uploads and the API.
export const jobsBucket = new sst.aws.Bucket('Jobs');
