#!/usr/bin/env perl
# examples/tour.pl - a short printed tour of Future::IO::Redis.
#
#   script/demo                                  # builds, starts a server, runs this
#   FIOR_DEMO_PORT=6379 perl -Mblib examples/tour.pl   # against your own server
#
# Connects to 127.0.0.1:$FIOR_DEMO_PORT (default 6379) and shows: SET/GET,
# 1,000 concurrent INCRs on one connection, a Redis error as an object,
# generated command methods and a key prefix, and an automatic reconnect
# after the server drops the connection. It only touches keys named tour:*
# and deletes them at the end.
use strict;
use warnings;

use Future::IO;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;    # also enables async/await in this file
use Future::IO::Redis::Pool;
use Time::HiRes qw(time);

$| = 1;
my $port = $ENV{FIOR_DEMO_PORT} // 6379;
my $loop = IO::Async::Loop->new;
my @keys = map { "tour:$_" } qw(greeting counter name user ns:visits p log);

my $dropped;              # a Future, done when the client sees its connection drop
my $redis = Future::IO::Redis->new(
    host          => '127.0.0.1',
    port          => $port,
    reconnect     => 1,
    client_name   => 'tour',
    on_connect    => sub { print "   [event] on_connect\n" },
    on_disconnect => sub {
        my ( undef, $reason ) = @_;
        print "   [event] on_disconnect: $reason\n";

        # Resume main() from the event loop, not from inside the callback.
        $loop->later( sub { $dropped->done if $dropped && !$dropped->is_ready } );
    },
    on_error => sub { my ( undef, $error ) = @_; print "   [event] on_error: $error\n" },
);

sub step { print "\n== $_[0]\n" }

async sub main {
    step "1. Connect to 127.0.0.1:$port";
    await $redis->connect;
    printf "   connected: %s\n", $redis->is_connected ? 'yes' : 'no';
    await $redis->del(@keys);

    step '2. SET and GET';
    await $redis->set( 'tour:greeting', 'hello from Perl', ex => 60 );
    my $value = await $redis->get('tour:greeting');
    print "   GET tour:greeting -> '$value'\n";

    step '3. 1,000 concurrent INCRs on one connection';
    my $t0      = time;
    my @futures = map { $redis->incr('tour:counter') } 1 .. 1000;    # all sent at once
    my @replies = await Future->needs_all(@futures);
    my $elapsed = time - $t0;
    printf "   %d replies in %.1f ms (%.0f ops/s)\n", scalar @replies, $elapsed * 1000,
        @replies / ( $elapsed || 1e-6 );
    my $final = await $redis->get('tour:counter');
    printf "   final counter: %s (%s)\n", $final,
        $final == 1000 ? 'correct' : 'WRONG, expected 1000';

    step '4. Errors are objects';
    await $redis->set( 'tour:name', 'not a number' );
    my $ok = eval { await $redis->incr('tour:name'); 1 };
    if ($ok) {
        print "   unexpected: INCR on a string succeeded\n";
    }
    else {
        my $e = $@;
        printf "   INCR tour:name failed with %s\n", ref $e || 'a plain string';
        printf "   type: %s\n   message: %s\n", $e->type, $e->message
            if ref $e && $e->isa('Future::IO::Redis::Error::Redis');
    }

    step '5. Every command is a method; a key prefix';
    await $redis->hset( 'tour:user', name => 'Ada', lang => 'Perl' );
    my $user = await $redis->hgetall('tour:user');
    print "   hgetall tour:user -> { ", join( ', ', map { "$_ => $user->{$_}" } sort keys %$user ),
        " }\n";
    my $encoding = await $redis->object_encoding('tour:user');
    print "   object_encoding (OBJECT ENCODING) tour:user -> $encoding\n";
    my $ns = Future::IO::Redis->new( host => '127.0.0.1', port => $port, prefix => 'tour:ns:' );
    await $ns->incrby( 'visits', 3 );
    my $raw = await $redis->keys('tour:ns:*');
    print "   with prefix 'tour:ns:', incrby('visits') wrote: @$raw\n";
    $ns->disconnect;

    step '6. Pipelines, transactions, scripts, SCAN';
    my $replies = await $redis->pipeline->set( 'tour:p', 1 )->incr('tour:p')->incr('tour:greeting')
        ->get('tour:p')->execute;
    print "   one pipeline, one round trip -> [ ",
        join( ', ', map { ref $_ ? 'error object' : $_ } @$replies ), " ]\n";
    my $tx = await $redis->multi(
        async sub {
            my ($tx) = @_;
            $tx->incr('tour:p')->lpush( 'tour:log', 'paid' );
        }
    );
    print "   multi (MULTI ... EXEC in one piece) -> [ @$tx ]\n";
    my $watched = await $redis->watch_multi(
        ['tour:p'],
        async sub {
            my ( $tx, $values ) = @_;
            $tx->set( 'tour:p', $values->{'tour:p'} * 10 );
        }
    );
    print "   watch_multi read tour:p and set it ten times higher -> [ @$watched ]\n";
    my $script = $redis->script(q{return redis.call('INCRBY', KEYS[1], ARGV[1])});
    my $n      = await $script->run( ['tour:p'], [5] );
    print "   script ", substr( $script->sha, 0, 12 ), "... run -> $n\n";
    my $it = $redis->scan_iter( match => 'tour:*', count => 100 );
    my %found;
    while ( my $batch = await $it->next ) { $found{$_} = 1 for @$batch }
    print "   scan_iter(match => 'tour:*') -> ", join( ' ', sort keys %found ), "\n";

    step '7. Pub/sub and a pool';
    my $listener = Future::IO::Redis->new( host => '127.0.0.1', port => $port );
    my $sub      = await $listener->subscribe('tour:news');
    my $pool     = Future::IO::Redis::Pool->new( host => '127.0.0.1', port => $port, max => 3 );
    my @counts   = await Future->needs_all(
        map {
            my $n = $_;
            $pool->with( async sub { await $_[0]->publish( 'tour:news', "item $n" ) } )
        } 1 .. 5
    );
    print "   5 PUBLISHes through a pool of at most 3 connections, each reached ",
        "@counts subscriber(s)\n";
    for my $i ( 1 .. 5 ) {
        my $m = await $sub->next;
        print "   $m->{channel}: $m->{data}\n";
    }
    printf "   pool: %d connections opened, %d idle\n", $pool->stats->{total}, $pool->stats->{idle};
    await $sub->unsubscribe;
    $pool->shutdown;
    $listener->disconnect;

    step '8. Automatic reconnect';
    my $id = await $redis->command( 'CLIENT', 'ID' );
    print "   our connection id: $id\n";
    my $admin = Future::IO::Redis->new( host => '127.0.0.1', port => $port );
    await $admin->connect;
    $dropped = $loop->new_future;
    print "   a second client sends CLIENT KILL ID $id\n";
    await $admin->command( 'CLIENT', 'KILL', 'ID', $id );
    $admin->disconnect;

    # Wait until the client has noticed: a command already on the wire when
    # the connection drops fails (it may have run), it is never retried.
    await Future->wait_any( $dropped, Future::IO->sleep(5) );
    print "   (no disconnect noticed within 5 s)\n" unless $dropped->is_done;
    $value = await $redis->get('tour:greeting');    # waits for the reconnect
    print "   GET after the drop -> '$value'\n";
    my $new_id = await $redis->command( 'CLIENT', 'ID' );
    print "   new connection id: $new_id\n";

    step '9. Clean up';
    my $deleted = await $redis->del(@keys);
    print "   deleted $deleted keys\n";
    $redis->disconnect;
    print "\nDone.\n";
}

$loop->await( main() )->get;
