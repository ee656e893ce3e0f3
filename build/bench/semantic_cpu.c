/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The gateway CPU of a semantic miss (issue 15), outside the embedder:
 * split of the request, the embedding request body, parsing a 1536-float
 * embeddings answer, the bucket key, decoding and matching a full bucket,
 * then the store of the answer into it. Build and run from the top:
 *   cc -O2 -I include -I/usr/include/apr-1.0 build/bench/semantic_cpu.c \
 *      build/out/libllmgw_core.a -lapr-1 -ljansson -lcrypto -lm -o /tmp/s && /tmp/s
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "llmgw_semantic.h"
#include "llmgw_cache_key.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(void){
  apr_pool_t *gp,*p; int i,k,N=2000; apr_size_t dim=1536,len; char *emb; 
  apr_initialize(); apr_pool_create(&gp,NULL);
  /* an embeddings answer of 1536 floats */
  {  char *b=apr_pstrdup(gp,"{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[");
     for(i=0;i<(int)dim;i++) b=apr_psprintf(gp,"%s%s%.8f",b,i?",":"",(i%7)*0.0123-0.04);
     emb=apr_pstrcat(gp,b,"]}],\"model\":\"m\",\"usage\":{\"prompt_tokens\":5,\"total_tokens\":5}}",NULL);}
  const char *req="{\"model\":\"gpt-4.1-mini\",\"temperature\":0.2,\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant for an airline.\"},{\"role\":\"user\",\"content\":\"What is the baggage allowance on a flight from Paris to Rome in economy?\"}]}";
  /* a full bucket */
  llmgw_sem_bucket_t *b=llmgw_sem_bucket_make(gp,dim); float *v=apr_palloc(gp,dim*4);
  for(k=0;k<32;k++){for(i=0;i<(int)dim;i++)v[i]=(float)((i*k)%13)-6; llmgw_sem_bucket_add(gp,b,apr_psprintf(gp,"%064x",k),v,dim,NULL);}
  char *benc=llmgw_sem_bucket_encode(gp,b,&len);
  double t0=now();
  for(i=0;i<N;i++){ apr_pool_create(&p,gp);
    json_t *t=json_loads(req,0,NULL); const char *text,*ctx; llmgw_semantic_split(p,t,&text,&ctx);
    json_t *eb=json_pack("{s:s,s:s}","model","m","input",text); char *ebt=json_dumps(eb,JSON_COMPACT); free(ebt); json_decref(eb);
    float *vec; apr_size_t d; llmgw_sem_embedding_parse(p,emb,strlen(emb),&vec,&d);
    llmgw_cache_key(p,"ws:x","chat/completions#semantic","openai","gpt-4.1-mini",ctx);
    llmgw_sem_bucket_t *bb; llmgw_sem_bucket_decode(p,benc,len,&bb);
    llmgw_sem_bucket_match(p,bb,vec,d,0.95,3);
    /* the store after the answer: decode, add, encode */
    llmgw_sem_bucket_decode(p,benc,len,&bb); llmgw_sem_bucket_add(p,bb,apr_psprintf(p,"%064x",999),vec,d,NULL);
    apr_size_t l2; llmgw_sem_bucket_encode(p,bb,&l2);
    json_decref(t); apr_pool_destroy(p);}
  double t1=now();
  printf("semantic miss, pure CPU per request (dim %zu, full bucket of 32, %zu-byte bucket, %zu-byte embeddings answer): %.1f us\n",dim,len,strlen(emb),(t1-t0)/N*1e6);
  return 0;}
